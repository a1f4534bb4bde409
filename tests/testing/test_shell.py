"""The fake shell: the busybox subset that exec and start commands use."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from typing import Any

import pytest

from ctrlplane.ids import new_id
from ctrlplane.provider import ExecRequest, LogOptions, ProvisionRequest, ServiceRole
from ctrlplane.testing import FakeBackend, FakeImage, FakeProvider, shell
from ctrlplane.testing.conformance import BusyboxServices
from ctrlplane.testing.conformance.busybox import http_script, idle_script, log_script
from ctrlplane.testing.conformance.fake_harness import conformance_http
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


@pytest.mark.parametrize(
    "script",
    [
        "echo a | cat",
        "echo 'open",
        "for x in a b; do echo $x; done",
        "echo $(echo sub)",
        "(echo sub)",
        "if true; then fi",
        "while true; do echo",
        "if true; then echo; fi done",
        "echo ${NAME:-x}",
    ],
)
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


# Control flow


@pytest.mark.parametrize(
    ("script", "out"),
    [
        ("if true; then echo a; elif true; then echo b; else echo c; fi", b"a\n"),
        ("if false; then echo a; elif true; then echo b; else echo c; fi", b"b\n"),
        ("if false; then echo a; elif false; then echo b; else echo c; fi", b"c\n"),
        ("if false; then echo a; fi; echo $?", b"0\n"),
        ("if ! false; then echo negated; fi", b"negated\n"),
        ("if true; then if false; then echo a; else echo nested; fi; fi", b"nested\n"),
        ("if true\nthen\n  echo multi\nelse\n  echo no\nfi\n", b"multi\n"),
        ("i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo $i; done", b"1\n2\n3\n"),
        ("i=0\nwhile [ $i -lt 2 ]\ndo\n  i=$((i+1))\n  echo $i\ndone\n", b"1\n2\n"),
        ("i=0; until [ $i -ge 2 ]; do i=$((i+1)); echo $i; done", b"1\n2\n"),
        ("i=0; while true; do i=$((i+1)); [ $i -gt 2 ] && break; echo $i; done", b"1\n2\n"),
        (
            "i=0; while [ $i -lt 4 ]; do i=$((i+1)); [ $i -eq 2 ] && continue; echo $i; done",
            b"1\n3\n4\n",
        ),
        (
            "i=0; while [ $i -lt 3 ]; do i=$((i+1)); j=0; while true; do j=$((j+1)); "
            "[ $j -gt 2 ] && continue 2; [ $i -eq 2 ] && break 2; echo $i$j; done; done; "
            "echo i=$i",
            b"11\n12\ni=2\n",
        ),
        ("i=0; while [ $i -lt 2 ]; do i=$((i+1)); false; done; echo $?", b"1\n"),
        ("false; while false; do :; done; echo $?", b"0\n"),
        ("until false; do break; done; echo $?", b"0\n"),
        ("break; continue; echo outside", b"outside\n"),
        ("if true; then echo to-file; fi > /f; cat /f", b"to-file\n"),
        ("i=0; while [ $i -lt 1 ]; do i=1; echo e >&2; done 2>&1", b"e\n"),
    ],
)
async def test_if_and_loops(script: str, out: bytes) -> None:
    res = await sh(script)
    assert (res.exit_code, res.stdout, res.stderr) == (0, out, b"")


async def test_exit_inside_if_and_while() -> None:
    res = await sh("if true; then echo in; exit 4; fi; echo never")
    assert (res.exit_code, res.stdout) == (4, b"in\n")
    res = await sh("i=0; while true; do i=$((i+1)); [ $i -eq 3 ] && exit $i; done")
    assert res.exit_code == 3
    res = await sh("false; exit")
    assert res.exit_code == 1


async def test_unknown_programs_inside_compound_commands_exit_127() -> None:
    res = await sh("if nope; then echo yes; else echo $?; fi")
    assert (res.stdout, res.stderr) == (b"127\n", b"sh: nope: not found\n")


# test / [


@pytest.mark.parametrize(
    ("expr", "status"),
    [
        ('-n "x"', 0),
        ('-n ""', 1),
        ('-z ""', 0),
        ("-z x", 1),
        ("abc = abc", 0),
        ("abc == abd", 1),
        ("a != b", 0),
        ("a != a", 1),
        ("3 -eq 3", 0),
        ("3 -ne 3", 1),
        ("2 -lt 3", 0),
        ("3 -le 3", 0),
        ("-1 -gt 3", 1),
        ("3 -ge 4", 1),
        ("! -n x", 1),
        ("! x = y", 0),
        ("x", 0),
        ('""', 1),
        ("", 1),
        ("-n", 0),
        ("!", 0),
        ("1 -eq 1 -a 2 -eq 3", 1),
        ("1 -eq 1 -o 2 -eq 3", 0),
        ("\\( 1 -eq 2 -o x \\) -a y", 0),
    ],
)
async def test_test_expressions(expr: str, status: int) -> None:
    bracket = await sh(f"[ {expr} ]")
    word = await sh(f"test {expr}")
    assert (bracket.exit_code, bracket.stderr) == (status, b"")
    assert word.exit_code == status


async def test_test_reports_bad_arguments_with_status_2() -> None:
    assert (await sh("[ 1 -eq x ]")).stderr == b"sh: x: bad number\n"
    missing = await sh("[ a = b")
    assert (missing.exit_code, missing.stderr) == (2, b"sh: missing ]\n")
    assert (await sh("[ a b c ]")).exit_code == 2


async def test_test_files_and_directories() -> None:
    files = ContainerFiles(own={"/etc/app.conf": b"x", "/empty": b""})
    checks = (
        "[ -f /etc/app.conf ] && echo f; [ -f /etc ] || echo not-f; [ -d /etc ] && echo d; "
        "[ -d /etc/app.conf ] || echo not-d; [ -e /nope ] || echo not-e; [ -e /tmp ] && echo e; "
        "[ -s /empty ] || echo empty; [ -s /etc/app.conf ] && echo s"
    )
    res = await sh(checks, files=files)
    assert res.stdout == b"f\nnot-f\nd\nnot-d\nnot-e\ne\nempty\ns\n"


async def test_mkdir_makes_directories_test_can_see() -> None:
    files = ContainerFiles()
    res = await sh(
        "mkdir /a/b; mkdir -p /a/b && [ -d /a ] && [ -d /a/b/ ] && echo made", files=files
    )
    assert res.stdout == b"made\n"
    assert res.stderr == b"mkdir: can't create directory '/a/b': No such file or directory\n"
    assert (await sh("[ -d /a/b ] && mkdir /a/b", files=files)).exit_code == 1
    assert (await sh("rm /a/b", files=files)).exit_code == 1
    assert (await sh("rm -r /a/b; [ -d /a/b ] || echo gone", files=files)).stdout == b"gone\n"


# Variables, expansions, eval


@pytest.mark.parametrize(
    ("script", "out"),
    [
        ("x=1; echo $x; x=two; echo ${x}", b"1\ntwo\n"),
        ("X=1 printenv X; printenv X || echo unset", b"1\nunset\n"),
        ("X=1; printenv X || echo not-exported; export X; printenv X", b"not-exported\n1\n"),
        ("export Y=2; sh -c 'echo $Y'; Z=3; sh -c 'echo [$Z]'", b"2\n[]\n"),
        ("unset NAME; echo [$NAME]", b"[]\n"),
        ("false; echo $?; true; echo $?", b"1\n0\n"),
        (
            "echo $((1+2*3)) $(( (1+2)*3 )) $((7/2)) $((-7/2)) $((7%3)) $((2**10))",
            b"7 9 3 -3 1 1024\n",
        ),
        ("i=5; echo $((i*2)) $(($i+1)) $((unset+1)) $((i > 3 && i < 9))", b"10 6 1 1\n"),
        ("i=0; i=$((i+1)); i=$((i+1)); echo $i", b"2\n"),
        ('x=" a  b "; echo [$x]; echo "[$x]"', b"[ a b ]\n[ a  b ]\n"),
        ("x='*'; echo $x", b"*\n"),
        ('NAME=MESSAGE; MESSAGE=hi; eval "echo \\$$NAME"', b"hi\n"),
        ("eval 'x=1; echo $x'; echo $x", b"1\n1\n"),
        ("i=0; while true; do i=$((i+1)); eval '[ $i -ge 2 ] && break'; done; echo $i", b"2\n"),
        ("echo $# $0", b"0 sh\n"),
    ],
)
async def test_variables_and_expansions(script: str, out: bytes) -> None:
    res = await sh(script)
    assert (res.exit_code, res.stdout, res.stderr) == (0, out, b"")


async def test_run_does_not_change_the_containers_env() -> None:
    env = {"NAME": "world"}
    await run_command(["sh", "-c", "NAME=x; export OTHER=y"], env=env, fs=ContainerFiles())
    assert env == {"NAME": "world"}


@pytest.mark.parametrize(
    ("script", "err"),
    [
        ("echo $((1/0))", b"sh: divide by zero\n"),
        ("echo $((2+))", b"sh: arithmetic syntax error\n"),
    ],
)
async def test_arithmetic_errors_end_the_shell(script: str, err: bytes) -> None:
    res = await sh(f"{script}; echo never")
    assert (res.exit_code, res.stdout, res.stderr) == (2, b"", err)


async def test_pids() -> None:
    in_exec = await sh("echo $$; sleep 0 & echo $!; sh -c 'echo $$'")
    assert in_exec.stdout == b"100\n101\n102\n"
    at_start = await run_command(
        ["sh", "-c", "echo $$; sleep 0 & echo $!"], env={}, fs=ContainerFiles(), at_start=True
    )
    assert at_start.stdout == b"1\n2\n"


async def test_exec_replaces_the_shell() -> None:
    res = await sh("exec sh -c 'echo $$; exit 5'; echo never")
    assert (res.exit_code, res.stdout) == (5, b"100\n")


async def test_sh_runs_a_file_or_stdin() -> None:
    files = ContainerFiles(own={"/start.sh": b"echo from file\nexit 3\n"})
    res = await sh("sh /start.sh; echo $?; sh /missing.sh; echo $?", files=files)
    assert res.stdout == b"from file\n3\n2\n"
    assert res.stderr == b"sh: can't open '/missing.sh': No such file or directory\n"
    piped = await run_command(["sh"], env={}, fs=ContainerFiles(), stdin=b"echo piped")
    assert piped.stdout == b"piped\n"


# Background jobs


async def test_background_sleep_does_not_block_the_foreground() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    res = await sh("sleep 5 & echo now")
    assert res.stdout == b"now\n"
    assert loop.time() - started < 1


async def test_wait_returns_the_jobs_status() -> None:
    res = await sh("sh -c 'sleep 0.02; exit 3' & p=$!; echo started; wait $p; echo waited $?")
    assert res.stdout == b"started\nwaited 3\n"
    assert (await sh("sh -c 'exit 4' & sh -c 'exit 5' & wait; echo $?")).stdout == b"0\n"
    assert (await sh("wait 4242; echo $?")).stdout == b"127\n"


async def test_job_output_comes_in_order() -> None:
    res = await sh("sh -c 'sleep 0.02; echo job' & echo first; wait; echo last")
    assert res.stdout == b"first\njob\nlast\n"


@pytest.mark.parametrize(
    ("signal", "status"), [("", 143), ("-TERM", 143), ("-9", 137), ("-s KILL", 137)]
)
async def test_kill_ends_a_job(signal: str, status: int) -> None:
    res = await sh(f"sleep 5 & p=$!; kill {signal} $p; wait $p; echo $?")
    assert (res.exit_code, res.stdout) == (0, f"{status}\n".encode())


async def test_kill_reports_unknown_processes_and_signals() -> None:
    res = await sh("kill 4242; echo $?; kill -FOO 4242; echo $?")
    assert res.stdout == b"1\n1\n"
    assert res.stderr == b"sh: can't kill pid 4242: No such process\nsh: bad signal name 'FOO'\n"


async def test_jobs_end_with_the_command() -> None:
    res = await sh("sleep 5 & httpd -f -p 80 & echo bye")
    assert (res.exit_code, res.stdout) == (0, b"bye\n")
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_traps_are_recorded_and_run_on_kill_of_the_shell() -> None:
    res = await sh("trap 'echo bye; exit 7' TERM; trap; kill $$; echo never")
    assert (res.exit_code, res.stdout) == (7, b"trap -- 'echo bye; exit 7' TERM\nbye\n")
    assert (await sh("kill $$; echo never")).exit_code == 143
    assert (await sh("trap '' TERM; kill $$; echo ignored")).stdout == b"ignored\n"
    assert (await sh("trap x FOO")).stderr == b"sh: trap: FOO: invalid signal specification\n"
    pid1 = await run_command(
        ["sh", "-c", "kill $$; echo pid 1 ignores it"], env={}, fs=ContainerFiles(), at_start=True
    )
    assert pid1.stdout == b"pid 1 ignores it\n"


# Blocking at container start


async def start(script: str, **kw: Any) -> ShellResult:
    return await run_command(
        ["sh", "-c", script], at_start=True, **{"env": {}, "fs": ContainerFiles(), **kw}
    )


async def test_idle_script_blocks_at_start() -> None:
    res = await start(idle_script())
    assert res == ShellResult(0, b"", b"", blocked=True)


@pytest.mark.parametrize(("healthy", "healthz"), [("1", b"ok\n"), ("0", None)])
async def test_http_script_blocks_as_a_server(healthy: str, healthz: bytes | None) -> None:
    files = ContainerFiles(own={"/tmp/www/healthz": b"stale"})
    env = {"MESSAGE": "hello there", "HEALTHY": healthy}
    res = await start(http_script(8080), env=env, fs=files)
    assert res == ShellResult(0, b"", b"", blocked=True)
    assert files.read("/tmp/www/index.html") == b"hello there"
    assert files.read("/tmp/www/healthz") == healthz


async def test_log_script_without_tick_prints_then_blocks() -> None:
    res = await start(log_script(["one", "it's two"], ["err"], None))
    assert res == ShellResult(0, b"one\nit's two\n", b"err\n", blocked=True)


async def test_log_script_ticks_through_the_sink_until_cancelled() -> None:
    out: list[bytes] = []
    err: list[bytes] = []

    def sink(o: bytes, e: bytes) -> None:
        out.append(o)
        err.append(e)

    task = asyncio.create_task(start(log_script(["one", "two"], ["err"], 0.05), sink=sink))
    await asyncio.sleep(0.4)
    assert not task.done()  # ticking forever, like the real process
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lines = b"".join(out).decode().splitlines()
    assert lines[:4] == ["one", "two", "tick 1", "tick 2"]
    assert all(line == f"tick {n}" for n, line in enumerate(lines[2:], 1))
    assert b"".join(err) == b"err\n"
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_blocking_lets_running_jobs_finish_first() -> None:
    res = await start("sh -c 'sleep 0.02; echo late' & sleep infinity")
    assert res == ShellResult(0, b"late\n", b"", blocked=True)


@pytest.mark.parametrize(
    "script",
    [
        "while :; do sleep 1; done",
        "until false; do wait; done",
        "httpd -f -p 80",
        "sleep infinity & wait",
        "exec httpd -f",
        "sh -c 'httpd -f & wait $!'",
    ],
)
async def test_never_ending_commands_block_at_start_and_fail_in_exec(script: str) -> None:
    assert (await start(f"echo up; {script}; echo never")).blocked
    res = await sh(f"echo up; {script}; echo after")
    assert not res.blocked
    assert res.stdout.startswith(b"up\n")
    assert b"the fake shell runs forever only in a container's start command" in res.stderr


async def test_httpd_without_f_daemonizes() -> None:
    assert (await sh("httpd -p 80 -h /www; echo $?")).stdout == b"0\n"


async def test_sink_gets_each_command_of_a_loop() -> None:
    got: list[tuple[bytes, bytes]] = []
    res = await start(
        "i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo $i; done; sleep infinity",
        sink=lambda o, e: got.append((o, e)),
    )
    assert res == ShellResult(0, b"", b"", blocked=True)
    assert got == [(b"1\n", b""), (b"2\n", b""), (b"3\n", b"")]


async def test_busy_loops_are_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shell, "SPIN_LIMIT", 50)
    res = await sh("echo start; while true; do :; echo x >/dev/null; done; echo never")
    assert (res.exit_code, res.stdout) == (2, b"start\n")
    assert res.stderr == (
        b"sh: a loop ran 50 times without sleeping or waiting (the fake shell stops busy loops)\n"
    )
    sleepy = await sh("i=0; while [ $i -lt 80 ]; do i=$((i+1)); sleep 0.0001; done; echo $i")
    assert sleepy.stdout == b"80\n"


async def test_default_busy_loop_limit_is_generous() -> None:
    assert shell.SPIN_LIMIT == 100_000
    res = await sh("i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo $i")
    assert res.stdout == b"2000\n"


# The same scripts on the host's busybox, when it is installed

BUSYBOX = shutil.which("busybox")
SAME_AS_BUSYBOX = [
    "i=0; while [ $i -lt 3 ]; do i=$((i+1)); if [ $i -eq 2 ]; then continue; fi; echo $i; done",
    'x=\' a  b \'; echo [$x] "[$x]"; y=$x; echo "$y"',
    "echo $((7 % 3)) $((2 ** 10)) $(( (2+3) * 4 )) $((10 > 3 && 2 < 1)) $((-7 / 2)) $((010))",
    "[ -n x -a ! -z x ] && echo yes; [ 1 -gt 2 -o 3 -lt 4 ] && echo or; test ! && echo bang",
    "sh -c 'exit 3' & wait $!; echo $?; sleep 5 & kill -9 $!; wait $!; echo $?",
    "until false; do break; done; echo $?; if false; then :; fi; echo $?",
    "X=1 sh -c 'echo $X'; Y=2; sh -c 'echo [$Y]'; export Y; sh -c 'echo [$Y]'",
    'N=HOME; HOME=/root; eval "echo \\$$N"; false || echo $?',
    "i=0; while :; do i=$((i+1)); case_=$i; [ $i -ge 3 ] && break; done; echo $i $case_",
]


@pytest.mark.skipif(BUSYBOX is None, reason="busybox is not installed")
@pytest.mark.parametrize("script", SAME_AS_BUSYBOX)
async def test_prints_what_busybox_prints(script: str) -> None:
    real = await asyncio.create_subprocess_exec(
        str(BUSYBOX), "sh", "-c", script, stdout=subprocess.PIPE, env={}
    )
    real_out, _ = await asyncio.wait_for(real.communicate(), 10)
    fake = await run_command(["sh", "-c", script], env={}, fs=ContainerFiles())
    assert (fake.exit_code, fake.stdout) == (real.returncode, real_out)


async def test_ended_jobs_nobody_waits_for_are_forgotten() -> None:
    res = await sh(
        "true & first=$!; sleep 0.01; i=0; while [ $i -lt 300 ]; do i=$((i+1)); true & done; "
        "last=$!; sleep 0.01; wait $first; echo $?; wait $last; echo $?; echo $last"
    )
    assert res.stdout == b"127\n0\n401\n"
    assert (await sh("true & p=$!; sleep 0.01; wait $p; echo $?; wait $p; echo $?")).stdout == (
        b"0\n127\n"
    )


class TickingServices(BusyboxServices):
    log_tick = 0.02


async def test_fake_provider_runs_the_busybox_conformance_services() -> None:
    backend = FakeBackend(any_image=False)
    backend.add_image(FakeImage(name="ctrlplane-conformance/busybox:1", http=conformance_http))
    b = TickingServices()
    sidecars = [
        b.log_service("logs", lines=["a"], stderr_lines=["e"], tick=True),
        b.idle_service("idle"),
    ]
    services = [
        b.http_service("web", port=8080, env={"MESSAGE": "hi"}),
        *(s.model_copy(update={"role": ServiceRole.SIDECAR}) for s in sidecars),
        b.exit_service("job", code=0, lines=["bye"]).model_copy(update={"role": ServiceRole.INIT}),
    ]
    provider = FakeProvider(backend)
    req = ProvisionRequest(instance_id=new_id("inst"), services=services)
    await provider.provision(req)
    await asyncio.sleep(0.1)
    assert (await provider.status(req.instance_id)).ready
    check = ExecRequest(
        command=["sh", "-c", 'cat /tmp/www/index.html; [ -f /tmp/www/healthz ] && echo " up"'],
        service="web",
    )
    assert (await provider.exec(req.instance_id, check)).stdout == b"hi up\n"
    logs = await provider.logs(req.instance_id, LogOptions(service_name="logs")).collect()
    assert [(r.stream, r.line) for r in logs[:4]] == [
        ("stdout", "a"),
        ("stderr", "e"),
        ("stdout", "tick 1"),
        ("stdout", "tick 2"),
    ]
    await provider.deprovision(req.instance_id)
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
