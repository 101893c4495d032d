"""The parts of the sandbox Kubernetes API server, `workflow.sandbox.kube_api`.

    errors      the `Status` errors the API answers with
    common      timestamps, generated names, image tags and their faults
    patch       strategic merge, JSON merge and JSON patches
    selectors   label and field selectors
    validation  defaulting and validation of Deployments
    store       the stored objects: resourceVersions, buckets, recorded events
    rollouts    the deployment controller and its rollout log
    pods        pods as the kubelet reports them: status, events, logs
    cluster     namespaces and Deployments as the API reads and writes them

`kube_api` is the HTTP layer on top and the public face: import from there. The names
with a leading underscore are private to this package.
"""
