"""The Docker sandbox cannot reach the host. `mlr-copilot run` as root and as a user without
root (CI runs as root, so one is created): experiment code that writes `.git/config`, git hooks
or `.mlr/` is refused, so the host's next `run` and `history` execute nothing it planted; no
file's or folder's mode is widened; and every secrets file reads as empty inside the container
while the values it holds are masked in the log."""

from __future__ import annotations

import importlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gitutil import write

from .conftest import TEST_IMAGE, live_docker_client
from .helpers import GIT_ENV, only_clean_idle_trees

USER = "mlr-sandbox-test"
SECRETS = {  # file: (content, the value that must never show)
    ".env": ("OPENAI_API_KEY=sk-dotenv-0123456789abcdef\n", "sk-dotenv-0123456789abcdef"),
    ".envrc": ("export HF_TOKEN=hf_envrc_0123456789abcdef\n", "hf_envrc_0123456789abcdef"),
    "kaggle.json": ('{"username": "someone", "key": "kagglekey0123456789abcdef"}', "kagglekey0123456789abcdef"),
    ".netrc": ("machine api.example.com login alice password netrcPassw0rd99\n", "netrcPassw0rd99"),
    "credentials.json": ('{"token": "credentials-token-5551234"}', "credentials-token-5551234"),
    "secrets.toml": ('api_key = "toml-secret-424242xyz"\n', "toml-secret-424242xyz"),
    "id_rsa": ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ0123\n"
               "-----END OPENSSH PRIVATE KEY-----\n", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ0123"),
    "deploy/server.key": ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC0042\n-----END PRIVATE KEY-----\n",
                          "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC0042"),
    "certs/client.pem": ("-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG0043\n-----END CERTIFICATE-----\n",
                         "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG0043"),
    "service/.env.production": ("DB_PASSWORD=nested-dotenv-pass-0044\n", "nested-dotenv-pass-0044"),
    "secrets/db.txt": ("folder-secret-777888\n", "folder-secret-777888"),
}


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: Path


@pytest.fixture(scope="session")
def sandbox_user():
    """A user without root who may use the Docker engine (through the socket's group, given
    to the process: the user need not be in it), created when missing."""
    if os.getuid() != 0:
        pytest.skip("the process already runs without root; the root variant covers it")
    if shutil.which("useradd") is None:
        pytest.skip("no useradd on this machine to create a user without root")
    created = subprocess.run(["id", USER], capture_output=True).returncode != 0
    if created:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True, capture_output=True)
    info = pwd.getpwnam(USER)
    yield Account(USER, info.pw_uid, info.pw_gid, Path(info.pw_dir))
    if created:
        subprocess.run(["userdel", "--remove", USER], capture_output=True)


@pytest.fixture(scope="session")
def interpreter_warmed(tmp_path_factory):
    """Every module the commands below import, imported here: the user cannot read this
    interpreter's files (root's home), and a child process forked from this one and turned into
    that user finds them already loaded. The list comes from the same commands run once as root."""
    scratch = tmp_path_factory.mktemp("warm") / "ws"
    make_workspace(None, scratch, {"train.py": "print('METRIC acc=1')\n", ".env": "HF_TOKEN=hf_0123456789\n"})
    listing = scratch.parent / "modules.json"
    commands = [["run", "-w", str(scratch), "--runner", runner, "--json", "--", "python", "train.py"]
                for runner in ("docker", "local")] + [["history", "-w", str(scratch)]]
    script = ("import json, sys\nfrom mlr_copilot import cli\nfor argv in json.loads(sys.argv[1]):\n    cli.main(argv)\n"
              "open(sys.argv[2], 'w').write(json.dumps(sorted(sys.modules)))\n")
    subprocess.run([sys.executable, "-c", script, json.dumps(commands), str(listing)], check=True, capture_output=True,
                   env={**os.environ, **GIT_ENV, "MLR_IMAGE": TEST_IMAGE, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    for name in json.loads(listing.read_text()):
        try:
            importlib.import_module(name)
        except Exception:  # a module that only imports as __main__ or on another platform
            pass


@pytest.fixture(params=["invoker", "user"])
def account(request) -> Account | None:
    """None: this process's own user (root in CI); else a user without root."""
    live_docker_client()
    if request.param == "invoker":
        return None
    request.getfixturevalue("interpreter_warmed")
    return request.getfixturevalue("sandbox_user")


@pytest.fixture
def workspace(account: Account | None, tmp_path: Path):
    if account is None:
        yield tmp_path / "ws"
        return
    # a folder the user owns, in a place every user can reach (pytest's own is root's alone)
    path = Path(tempfile.mkdtemp(prefix="mlr-sandbox-"))
    os.chown(path, account.uid, account.gid)
    yield path / "ws"
    shutil.rmtree(path, ignore_errors=True)


def as_account(account: Account | None, *argv: str) -> tuple[int, str, str]:
    """`mlr-copilot ARGV` in a child process that runs as `account` (None: as this process)."""
    from mlr_copilot import cli

    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 99
            try:
                sys.stdout, sys.stderr = out, err
                if account is not None:
                    engine_socket = Path("/var/run/docker.sock")
                    os.setgroups([engine_socket.stat().st_gid] if engine_socket.exists() else [])
                    os.setgid(account.gid)
                    os.setuid(account.uid)
                    os.environ.update(HOME=str(account.home), USER=account.name)
                os.environ.update(GIT_ENV, MLR_IMAGE=TEST_IMAGE)
                code = cli.main(list(argv))
            except BaseException:
                traceback.print_exc()
            finally:
                out.flush()
                err.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read())
    return os.waitstatus_to_exitcode(status), *texts


def as_owner(account: Account | None, *command: str) -> None:
    """A setup command run as the workspace's owner."""
    prefix = ["runuser", "-u", account.name, "--"] if account else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, env={**os.environ, **GIT_ENV})


def make_workspace(account: Account | None, workspace: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        write(workspace, name, text)
    if account is not None:
        subprocess.run(["chown", "-R", f"{account.uid}:{account.gid}", str(workspace)], check=True)
    as_owner(account, "git", "-C", str(workspace), "init", "-q", "-b", "main")
    write(workspace, ".gitignore", ".mlr/\nresults.json\nout/\n" + "".join(f"/{name}\n" for name in SECRETS))
    if account is not None:
        os.chown(workspace / ".gitignore", account.uid, account.gid)
    as_owner(account, "git", "-C", str(workspace), "add", "-A")
    as_owner(account, "git", "-C", str(workspace), "commit", "-q", "-m", "initial")
    return workspace


def modes(root: Path) -> dict[str, int]:
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            found[path.relative_to(root).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


def widened(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[str, str]]:
    return {path: (oct(before[path]), oct(mode)) for path, mode in after.items() if path in before and mode & ~before[path]}


def run_cli(account: Account | None, workspace: Path, *command: str) -> dict:
    code, out, err = as_account(account, "run", "-w", str(workspace), "--runner", "docker", "--json", "--", *command)
    assert code == 0, err
    return json.loads(out)


ATTACK = """
    import json, os
    MARKS = {marks!r}
    plants = {{
        ".git/config": "\\n[core]\\n\\tfsmonitor = touch " + MARKS + "-fsmonitor\\n[alias]\\n\\tstatus = !touch " + MARKS + "\\n",
        ".git/hooks/post-commit": "#!/bin/sh\\ntouch " + MARKS + "-hook\\n",
        ".git/hooks/reference-transaction": "#!/bin/sh\\ntouch " + MARKS + "-hook\\n",
        ".mlr/runs/planted.json": "{{}}",
    }}
    for path, text in plants.items():
        try:
            with open(path, "a") as handle:
                handle.write(text)
            print("PLANTED", path)
        except OSError as exc:
            print("REFUSED", path, exc.strerror)
    try:
        os.chmod(".git/config", 0o777)
    except OSError:
        print("REFUSED chmod .git/config")
    os.makedirs("out", exist_ok=True)
    open("out/model.bin", "wb").write(b"weights")
    open(os.path.join(os.environ["MLR_OUTPUT_DIR"], "model.bin"), "wb").write(b"weights")
    # a set-user-ID file in the workspace would run as its owner for any local user
    for what, attempt in (("chmod", lambda: os.chmod("out/model.bin", 0o4755)),
                          ("chmod g+s", lambda: os.chmod("out/model.bin", 0o2755)),
                          ("create", lambda: os.close(os.open("out/suid", os.O_CREAT | os.O_WRONLY, 0o4755)))):
        try:
            attempt()
            print("PLANTED", what)
        except OSError as exc:
            print("REFUSED", what, exc.strerror)
    json.dump({{"acc": 0.5}}, open("results.json", "w"))
"""


@pytest.mark.docker
def test_nothing_the_experiment_does_changes_what_the_host_runs_next(account, workspace):
    marks = str(workspace.parent / "marks")
    make_workspace(account, workspace, {"train.py": ATTACK.format(marks=marks), "deploy/id_ed25519": "k\n"})
    (workspace / "deploy" / "id_ed25519").chmod(0o600)
    (workspace / "train.py").chmod(0o640)
    config = (workspace / ".git" / "config").read_bytes()
    hooks = sorted(os.listdir(workspace / ".git" / "hooks"))
    before = modes(workspace)

    record = run_cli(account, workspace, "python", "train.py")
    log = (workspace / record["log_path"]).read_text()
    assert record["status"] == "passed" and record["metrics"] == {"acc": 0.5}, log
    assert "PLANTED" not in log and log.count("REFUSED") == 8, log
    assert (workspace / ".git" / "config").read_bytes() == config
    assert sorted(os.listdir(workspace / ".git" / "hooks")) == hooks
    assert not (workspace / ".mlr" / "runs" / "planted.json").exists()
    assert record["commit"] and not record["dirty"]

    after = modes(workspace)
    assert widened(before, after) == {}
    assert [path for path, mode in after.items() if mode & (stat.S_ISUID | stat.S_ISGID)] == []
    # what the container wrote is its owner's, as a local run's would be, and no one else's to change
    owner = account.uid if account else 0
    # the run executed in a worktree of its commit: what it keeps is in its outputs folder
    assert not (workspace / "out").exists() and not (workspace / "results.json").exists()
    # nothing the container wrote, as whichever user, kept its worktree from being cleaned for
    # the next run (or removed)
    only_clean_idle_trees(workspace)
    for rel in (record["outputs"], f"{record['outputs']}/model.bin"):
        info = (workspace / rel).stat()
        assert info.st_uid == owner and not info.st_mode & stat.S_IWOTH, rel

    # the next commands on the host, even with programs planted where git looks for them
    # (as a cloned workspace could bring them), run none
    with open(workspace / ".git" / "config", "a") as handle:
        handle.write(f"[core]\n\tfsmonitor = \"touch {marks}-fsmonitor\"\n\tpager = \"touch {marks}-pager\"\n"
                     f"[alias]\n\tstatus = \"!touch {marks}-alias\"\n")
    hook = workspace / ".git" / "hooks" / "reference-transaction"
    hook.write_text(f"#!/bin/sh\ntouch {marks}-hook\n")
    hook.chmod(0o755)
    run_cli(account, workspace, "python", "train.py")
    code, _out, err = as_account(account, "history", "-w", str(workspace))
    assert code == 0, err
    assert list(workspace.parent.glob("marks*")) == []


@pytest.mark.docker
def test_every_secrets_file_reads_empty_inside_and_is_masked_in_the_log(account, workspace):
    files = {name: content for name, (content, _) in SECRETS.items()}
    names = [name for name in SECRETS if not name.startswith("secrets/")]
    script = f"""
        import os
        for name in {names!r}:
            print(name, "holds", len(open(name).read()), "chars")
        print("secrets/ lists", os.listdir("secrets"))
        # the values, as an experiment might have learned them elsewhere, printed in the log
        print({[value for _, value in SECRETS.values()]!r})
    """
    make_workspace(account, workspace, {**files, "train.py": script})
    (workspace / "id_rsa").chmod(0o600)
    before = modes(workspace)

    record = run_cli(account, workspace, "python", "train.py")
    log = (workspace / record["log_path"]).read_text()
    assert record["exit_code"] == 0, log
    for name in names:
        assert f"{name} holds 0 chars" in log
    assert "secrets/ lists []" in log
    leaked = [value for _, value in SECRETS.values() if value in log]
    assert leaked == [] and log.count("***") >= len(SECRETS), log
    assert record["warnings"] == []
    assert all((workspace / name).read_text() == content for name, content in files.items())
    assert widened(before, modes(workspace)) == {}


@pytest.mark.parametrize("account", [None])
def test_a_local_run_masks_every_secrets_file_and_names_them(account, workspace):
    files = {name: content for name, (content, _) in SECRETS.items()}
    make_workspace(None, workspace, {**files, "train.py": "print(open('kaggle.json').read())\n"})
    code, out, _err = as_account(None, "run", "-w", str(workspace), "--runner", "local", "--json", "--",
                                sys.executable, "-c", f"print({[value for _, value in SECRETS.values()]!r})")
    record = json.loads(out)
    log = (workspace / record["log_path"]).read_text()
    assert code == 0 and [value for _, value in SECRETS.values() if value in log] == [], log
    [warning] = record["warnings"]
    for name in ("kaggle.json", ".netrc", ".envrc", "id_rsa", "deploy/server.key", "service/.env.production", "secrets"):
        assert name in warning


@pytest.mark.docker
def test_a_workspace_image_is_built_without_the_secrets_files_git_or_mlr(tmp_path):
    live_docker_client()
    workspace = tmp_path / "ws"
    files = {name: content for name, (content, _) in SECRETS.items()}
    make_workspace(None, workspace, {**files, "Dockerfile": f"FROM {TEST_IMAGE}\nCOPY . /context\n",
                                     ".dockerignore": "!.env\n", "train.py": "import os\nprint(sorted(os.listdir('/context')))\n"})
    from mlr_copilot.runners.docker_image import workspace_image_tag

    tag = workspace_image_tag(workspace)
    try:
        record = run_cli(None, workspace, "python", "train.py")
        log = (workspace / record["log_path"]).read_text()
        listed = eval(log.strip().splitlines()[-1])
        assert record["image"] == tag and "train.py" in listed, log
        assert [name for name in listed if name in {".git", ".mlr", "deploy", "certs", "service", "secrets"} or
                name in SECRETS] == ["certs", "deploy", "service"], listed
        for folder in ("certs", "deploy", "service"):
            assert "[]" in subprocess.run(["docker", "run", "--rm", tag, "python", "-c",
                                           f"import os; print(os.listdir('/context/{folder}'))"],
                                          capture_output=True, text=True).stdout
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


@pytest.mark.docker
def test_the_experiment_cannot_change_the_dockerfile_and_creating_one_is_warned_about(tmp_path):
    live_docker_client()
    from mlr_copilot.runners.docker_image import workspace_image_tag

    script = """
        for name in ("Dockerfile", ".dockerignore"):
            try:
                open(name, "a").write("RUN touch /planted\\n")
                print("WROTE", name)
            except OSError as exc:
                print("REFUSED", name, exc.strerror)
    """
    built = make_workspace(None, tmp_path / "built", {"Dockerfile": f"FROM {TEST_IMAGE}\n", ".dockerignore": "data/\n",
                                                      "train.py": script})
    tag = workspace_image_tag(built)
    try:
        record = run_cli(None, built, "python", "train.py")
        log = (built / record["log_path"]).read_text()
        assert "WROTE" not in log and log.count("REFUSED") == 2, log
        assert (built / "Dockerfile").read_text() == f"FROM {TEST_IMAGE}\n" and record["warnings"] == []
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    # what the experiment creates stays in the run's worktree, which is removed: the next run
    # builds nothing, so there is nothing to warn about
    plain = make_workspace(None, tmp_path / "plain", {"train.py": script})
    record = run_cli(None, plain, "python", "train.py")
    assert record["warnings"] == [] and not (plain / "Dockerfile").exists() and not (plain / ".dockerignore").exists()


@pytest.mark.docker
@pytest.mark.parametrize("planted,problem", [
    ("os.mkfifo('results.json')", "results.json is not a regular file; it was not read"),
    ("open('results.json', 'wb').truncate(64 * 1024 * 1024)", "results.json is larger than 16 MB; it was not read"),
])
def test_a_results_file_the_experiment_made_a_trap_is_a_clear_problem(tmp_path, planted, problem):
    """The host reads the results file back: a FIFO would stop it forever, an endless file would
    fill its memory. Either is a one-line problem of the run, which still ends."""
    live_docker_client()
    workspace = make_workspace(None, tmp_path / "ws", {"train.py": f"import os\n{planted}\nprint('METRIC acc=1')\n"})
    done = subprocess.run([sys.executable, "-m", "mlr_copilot.cli", "run", "-w", str(workspace), "--runner", "docker",
                           "--json", "--", "python", "train.py"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **GIT_ENV, "MLR_IMAGE": TEST_IMAGE})
    record = json.loads(done.stdout)
    assert record["metrics"] == {"acc": 1.0} and problem in record["message"], record["message"]
