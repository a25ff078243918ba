"""`reactions dashboard`: start the Streamlit dashboard on this machine."""

HELP = "start the dashboard (Streamlit) on 127.0.0.1"

#: Seconds Streamlit gets to exit after SIGTERM before it is killed.
STOP_WAIT = 5.0


def add_arguments(parser) -> None:
    parser.add_argument("--port", type=int, help="port (default: REACTIONS_DASHBOARD_PORT or 8501)")


def streamlit_command(port: int, address: str = "127.0.0.1") -> list[str]:
    """The command that serves the dashboard (the browser test starts the same one)."""
    import sys
    from pathlib import Path

    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    # toolbarMode viewer: no Deploy button, which would offer Streamlit Cloud.
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the browser test and the screenshot script serve there)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(base: str, process, timeout: float, poll: float = 0.3) -> bool:
    """Whether the dashboard at `base` (started as `process`) answers its health check within
    `timeout` seconds; False as soon as the process has exited."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/_stcore/health", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(poll)


def launch(port: int, address: str = "127.0.0.1") -> int:
    """Run Streamlit as a child process; SIGTERM or Ctrl-C here stops it too (it is never
    left serving on its own after this command has gone)."""
    import signal
    import subprocess

    print(f"dashboard: http://{address}:{port}  (Ctrl-C to stop)", flush=True)
    child = subprocess.Popen(streamlit_command(port, address))

    def _stop(signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return child.wait()
    except KeyboardInterrupt:
        return _stop_child(child)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_child(child) -> int:
    import subprocess

    if child.poll() is None:
        child.terminate()
        try:
            child.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 0


def run(args) -> int:
    from reactions.config import get_settings

    return launch(args.port or get_settings().dashboard_port)
