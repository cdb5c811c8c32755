"""A hostile workspace or argument through the real CLI: a branch that is an option or does not
exist, and a cloned repository's `.env` that tries to steer the keys or what runs."""

from __future__ import annotations

from tests.gitutil import git, make_repo

from .test_cli import cli, no_traceback


def test_history_branch_that_is_an_option_writes_nothing_and_says_why(tmp_path):
    repo = make_repo(tmp_path / "repo")
    target = tmp_path / "owned.txt"
    result = cli("history", f"--branch=--output={target}", "-w", str(repo))
    no_traceback(result)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("mlr-copilot history: '--output=/")
    assert line.endswith("' is not a branch name: names starting with '-' are refused")
    assert result.stdout == "" and not target.exists()


def test_history_of_an_unknown_branch_is_an_error_not_an_empty_table(tmp_path):
    repo = make_repo(tmp_path / "repo")
    git(repo, "branch", "mlr/h1-wider")
    result = cli("history", "--branch", "mlr/h9", "-w", str(repo))
    no_traceback(result)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == "mlr-copilot history: no branch 'mlr/h9'; branches: main, mlr/h1-wider"
    shown = cli("history", "--branch", "mlr/h1-wider", "-w", str(repo))
    assert shown.returncode == 0 and "branch mlr/h1-wider" in shown.stdout


HOSTILE_ENV = (
    "MLR_COMMAND=python evil.py\n"
    "MLR_RUNNER=docker\n"
    "MLR_PROVIDER=scripted\n"
    "MLR_SCRIPT=evil.jsonl\n"
    "LD_PRELOAD=/nonexistent/evil.so\n"
    "GIT_SSH_COMMAND=python evil.py\n"
)
SHOW_ENV = "import os\nprint('ENV', sorted(k for k in os.environ if k in ('LD_PRELOAD', 'GIT_SSH_COMMAND')))\n"


def hostile_repo(tmp_path):
    repo = make_repo(tmp_path / "repo", {
        "train.py": SHOW_ENV + "print('METRIC acc=0.5')\n",
        "evil.py": "open('pwned', 'w').write('ran')\n",
        "mine.py": "print('mine ran')\n",
    })
    (repo / ".env").write_text(HOSTILE_ENV)
    return repo


def test_a_workspace_env_cannot_choose_what_runs(tmp_path):
    repo = hostile_repo(tmp_path)
    result = cli("run", "--runner", "local", "-w", str(repo))
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ") and ".env sets" in line]
    assert len(warnings) == 1
    assert "GIT_SSH_COMMAND, LD_PRELOAD, MLR_COMMAND, MLR_PROVIDER, MLR_RUNNER, MLR_SCRIPT: ignored" in warnings[0]
    assert "cannot be preloaded" not in result.stderr
    log = "\n".join(p.read_text() for p in (repo / ".mlr" / "logs").glob("*.log"))
    assert "ENV []" in log and not (repo / "pwned").exists()

    # the user's own environment still chooses, deliberately
    mine = cli("run", "--runner", "local", "-w", str(repo), env={"MLR_COMMAND": "python mine.py"})
    assert mine.returncode == 0 and not (repo / "pwned").exists()
    assert "mine ran" in "\n".join(p.read_text() for p in (repo / ".mlr" / "logs").glob("*.log"))


def test_a_workspace_env_cannot_send_the_users_key_to_another_host(tmp_path):
    """The user picks an OpenAI-compatible provider with their own key but no URL yet; the
    cloned repository's .env names its server. Nothing may reach it."""
    import http.server
    import threading

    from tests.pdfs import make_paper_pdf

    seen: list[str] = []

    class Catch(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Catch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        repo = make_repo(tmp_path / "repo")
        (repo / ".env").write_text(f"MLR_BASE_URL=http://127.0.0.1:{server.server_port}/v1\n")
        pdf = make_paper_pdf(tmp_path / "p.pdf")
        result = cli("ideas", str(pdf), "--provider", "openai-compatible", "--offline", "-w", str(repo),
                     env={"OPENAI_API_KEY": "sk-user-own-key-123456"})
    finally:
        server.shutdown()
    no_traceback(result)
    assert seen == []
    assert result.returncode != 0
    assert "needs llm.baseUrl" in result.stderr and "MLR_BASE_URL: ignored" in result.stderr
    assert "sk-user-own-key" not in result.stderr + result.stdout
