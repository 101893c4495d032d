"""`devops-bot sandbox serve`: the sandbox cluster as its own process, reached through a
kubeconfig as any cluster would be (kubectl, or the bot without --sandbox)."""

from __future__ import annotations

import json
import signal

from tests.cli_helpers import Cli, Result, no_traceback


def test_serve_writes_a_kubeconfig_that_the_bot_uses_like_any_cluster(tmp_path):
    served = Cli(tmp_path / "cluster")
    served.data_dir.mkdir()
    kubeconfig = tmp_path / "sandbox.kubeconfig"
    proc = served.start("sandbox", "serve", "--kubeconfig", str(kubeconfig))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("SANDBOX cluster (simulated) serving at http://127.0.0.1:"), first
        url = first.split("serving at ", 1)[1].strip()
        config = json.loads(kubeconfig.read_text())
        assert config["current-context"] == "devops-bot-sandbox"
        assert config["clusters"][0]["cluster"]["server"] == url

        # Another process, no --sandbox: the cluster comes from KUBECONFIG.
        bot = Cli(tmp_path / "bot", KUBECONFIG=str(kubeconfig))
        bot.data_dir.mkdir()
        run = bot("run", "deploy web:v9.9.9 dev", "--as", "U1", "--json")
        assert run.code == 0, run
        assert "devops-bot-sandbox" in run.json()["summary"], run
        assert served.cluster()[("dev", "web")].image.endswith(":v9.9.9")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    no_traceback(Result(("sandbox", "serve"), proc.returncode, out, err))
    assert proc.returncode == 130, (out, err)
