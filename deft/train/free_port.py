"""Print a TCP port on 127.0.0.1 that is free now: each accelerate launch of the `train` rule asks
for its own rendezvous port (``deft.config.train_command``), so that two multi-process trainings
running at once do not both bind accelerate's default 29500 (one then fails with EADDRINUSE).

    python -m deft.train.free_port
"""
import socket


def free_port() -> int:
    """A port the OS hands out as unused; it is released on return (the launcher binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    print(free_port())
