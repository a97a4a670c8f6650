"""What the soak scripts share: where things are, a free port, and GStreamer's RTSP server
playing vtest.avi (it starts the video again whenever a client reconnects)."""
import os, socket, subprocess

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
shared = os.environ.get("VIGIL_SHARED", os.path.join(root, "..", "shared"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rtsp(port, user=None, password=None):
    auth = ["--user", user, "--password", password] if user else []
    p = subprocess.Popen(["/usr/bin/python3", f"{shared}/tools/rtsp_server.py", f"{shared}/videos/vtest.avi",
                          "--port", str(port), *auth],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout.readline().startswith("serving")
    return p
