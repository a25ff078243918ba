"""`reactions dashboard`: start the Streamlit dashboard on this machine."""

HELP = "start the dashboard (Streamlit) on 127.0.0.1"


def add_arguments(parser) -> None:
    parser.add_argument("--port", type=int, help="port (default: REACTIONS_DASHBOARD_PORT or 8501)")


def launch(port: int, address: str = "127.0.0.1") -> int:
    import subprocess
    import sys
    from pathlib import Path

    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    print(f"dashboard: http://{address}:{port}  (Ctrl-C to stop)")
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
               "--server.address", address, "--server.headless", "true",
               "--browser.gatherUsageStats", "false"]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0


def run(args) -> int:
    from reactions.config import get_settings

    return launch(args.port or get_settings().dashboard_port)
