"""The fake shell: the busybox subset that exec and start commands use."""

from __future__ import annotations

import pytest

from ctrlplane.testing.records import ContainerFiles
from ctrlplane.testing.shell import ShellResult, run_command

ENV = {"NAME": "world", "EMPTY": ""}


async def sh(
    script: str, *, stdin: bytes = b"", files: ContainerFiles | None = None
) -> ShellResult:
    return await run_command(
        ["sh", "-c", script], env=ENV, fs=files or ContainerFiles(), stdin=stdin
    )


@pytest.mark.parametrize(
    ("script", "out"),
    [
        ("echo hello world", b"hello world\n"),
        ("echo -n x", b"x"),
        ("echo 'single $NAME'", b"single $NAME\n"),
        ('echo "double $NAME" ${NAME}!', b"double world world!\n"),
        ("echo $UNSET x", b"x\n"),
        ('echo "$UNSET"', b"\n"),
        ("echo a\\ b", b"a b\n"),
        ("printf '%s-%d\\n' a 7", b"a-7\n"),
        ("printf '%s' \"$NAME\"", b"world"),
        ("printenv NAME", b"world\n"),
        ("env", b"EMPTY=\nNAME=world\n"),
        ("true && echo yes || echo no", b"yes\n"),
        ("false && echo yes || echo no", b"no\n"),
        ("echo one; echo two # comment", b"one\ntwo\n"),
        ("echo one\necho two", b"one\ntwo\n"),
        ("exec echo replaced", b"replaced\n"),
        ("/bin/echo by path", b"by path\n"),
        ("sh -c 'echo nested'", b"nested\n"),
        ("trap 'exit 0' TERM; mkdir -p /x; echo after", b"after\n"),
    ],
)
async def test_scripts_print_like_busybox(script: str, out: bytes) -> None:
    res = await sh(script)
    assert (res.exit_code, res.stdout, res.stderr) == (0, out, b"")


async def test_exit_status_and_stderr() -> None:
    res = await sh("echo out; echo err >&2; exit 3; echo never")
    assert (res.exit_code, res.stdout, res.stderr) == (3, b"out\n", b"err\n")


async def test_last_status_is_the_exit_code() -> None:
    assert (await sh("true; false")).exit_code == 1
    assert (await sh("printenv UNSET")).exit_code == 1


async def test_redirections_to_files_and_between_streams() -> None:
    files = ContainerFiles()
    res = await sh(
        "echo one > /tmp/f; echo two >> /tmp/f; cat /tmp/f; echo e 2>&1; "
        "cat /missing 2>/dev/null; echo x 1>&2",
        files=files,
    )
    assert res.stdout == b"one\ntwo\ne\n"
    assert res.stderr == b"x\n"
    assert files.read("/tmp/f") == b"one\ntwo\n"
    assert (await sh("cat < /tmp/f", files=files)).stdout == b"one\ntwo\n"


async def test_cat_reads_stdin_and_reports_missing_files() -> None:
    res = await run_command(["cat"], env={}, fs=ContainerFiles(), stdin=b"data\n")
    assert res.stdout == b"data\n"
    missing = await run_command(["cat", "/nope"], env={}, fs=ContainerFiles())
    assert missing.exit_code == 1
    assert b"/nope" in missing.stderr


async def test_touch_and_rm() -> None:
    files = ContainerFiles()
    assert (await sh("touch /a; cat /a; rm /a", files=files)).exit_code == 0
    assert files.read("/a") is None
    assert (await sh("rm /a", files=files)).exit_code == 1
    assert (await sh("rm -f /a", files=files)).exit_code == 0


async def test_unknown_programs_exit_127() -> None:
    res = await sh("no-such-program")
    assert res.exit_code == 127
    assert res.stderr == b"sh: no-such-program: not found\n"
    direct = await run_command(["frobnicate"], env={}, fs=ContainerFiles())
    assert direct.exit_code == 127


@pytest.mark.parametrize("script", ["while true; do echo; done", "echo a | cat", "echo 'open"])
async def test_unsupported_syntax_exits_2(script: str) -> None:
    res = await sh(script)
    assert res.exit_code == 2
    assert res.stderr.startswith(b"sh: syntax error")


async def test_long_sleep_blocks_only_at_start() -> None:
    start = await run_command(
        ["sh", "-c", "echo up; sleep infinity; echo never"],
        env={},
        fs=ContainerFiles(),
        at_start=True,
    )
    assert start.blocked
    assert start.stdout == b"up\n"
    in_exec = await sh("sleep infinity")
    assert not in_exec.blocked
    assert in_exec.exit_code == 1


async def test_short_sleep_sleeps() -> None:
    res = await sh("sleep 0.01; echo done")
    assert (res.exit_code, res.stdout) == (0, b"done\n")
