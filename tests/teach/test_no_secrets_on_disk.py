"""A planted key and URL password appear in no file that teach, eval, run or report write, nor in
their output, even when the server quotes the request's Authorization header in its errors."""

import base64
import json
import secrets
import subprocess
import sys

from ftcot.testing.fault_server import FaultPlan

# A variable name that does not look like a key's: only `--api-key-env` says it holds one.
KEY_ENV = "FTCOT_TEST_TEACHER_CREDENTIAL"


def ftcot(*args, key: str) -> str:
    """Run the CLI with the key in the environment; returns everything it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "ftcot.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**_env(), KEY_ENV: key},
    )
    output = result.stdout + result.stderr
    assert result.returncode in (0, 2), output[-3000:]
    return output


def leaks(secret_values: list[str], folder, output: str) -> list[str]:
    """Each (secret, place) where a secret shows up: a file under folder, or the printed output."""
    found = []
    for path in [p for p in folder.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        found += [f"{path.relative_to(folder)}" for s in secret_values if s.encode() in data]
    found += ["output" for s in secret_values if s in output]
    return found


def test_no_file_or_log_holds_a_key_or_url_password(fault_server, tmp_path):
    key = "tok" + secrets.token_hex(16)  # not key-shaped: only knowing the variable masks it
    password = "pw" + secrets.token_hex(8)
    basic = base64.b64encode(f"ftcot:{password}".encode()).decode()  # user:password as HTTP sends it
    server = fault_server(FaultPlan(p_500=0.3, echo_auth=True, retry_after=0.01))
    with_password = server.url.replace("http://", f"http://ftcot:{password}@")
    refusing = fault_server(FaultPlan(status=401, echo_auth=True))
    common = ["--api-key-env", KEY_ENV, "--limit", 3]
    output = ""

    # teach: retried 500s and a refused run, both quoting the key back in their error messages
    output += ftcot("teach", "--teacher", "openai:fault-model", "--task", "multiarith", "--base-url",
                    server.url, "--out", tmp_path / "teach", "--no-progress", *common, key=key)  # fmt: skip
    output += ftcot("teach", "--teacher", "openai:fault-model", "--task", "multiarith", "--base-url",
                    refusing.url, "--out", tmp_path / "refused", "--no-progress", "--cache",
                    tmp_path / "refused.sqlite", *common, key=key)  # fmt: skip
    assert "401" in output
    # eval through a base URL with a password
    output += ftcot("eval", "openai:fault-model", "--task", "multiarith", "--base-url", with_password,
                    "--out", tmp_path / "eval", *common, key=key)  # fmt: skip
    # run: a recipe holding the URL password, copied into the run folder
    recipe = tmp_path / "secret.toml"
    recipe.write_text(_recipe(with_password, tmp_path / "cache.sqlite"))
    output += ftcot("run", recipe, "--out", tmp_path / "run", key=key)
    assert (tmp_path / "run" / "recipe.json").is_file()
    # report: also over a folder written before redaction existed, with the password in its manifest
    old = tmp_path / "old-eval"
    old.mkdir()
    (old / "completions.jsonl").write_bytes((tmp_path / "eval" / "completions.jsonl").read_bytes())
    manifest = json.loads((tmp_path / "eval" / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "name": f"via {with_password} key {key}"}))
    output += ftcot("report", tmp_path / "teach", tmp_path / "eval", old, "--out",
                    tmp_path / "report" / "r.html", "--markdown", tmp_path / "report" / "r.md", key=key)  # fmt: skip
    assert (tmp_path / "report" / "r.html").is_file()

    for planted in (recipe, old / "manifest.json"):  # inputs written here, not by ftcot
        planted.unlink()
    found = leaks([key, password, basic], tmp_path, output)
    assert not found, f"a secret is in: {', '.join(found)}"


def _recipe(base_url: str, cache) -> str:
    teacher = f'teacher = "openai:fault-model"\nbase_url = "{base_url}"\napi_key_env = "{KEY_ENV}"'
    return f"""
name = "secret"
tasks = ["multiarith"]
[teacher]
{teacher}
limit = 3
progress = false
cache = "{cache}"
[curate]
keep_all = true
[eval]
limit = 3
[[baselines]]
model = "openai:fault-model"
base_url = "{base_url}"
api_key_env = "{KEY_ENV}"
"""


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
