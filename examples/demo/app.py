"""The demo application: a greeting from the environment."""

import os


def greeting(name: str) -> str:
    return f"{os.environ.get('GREETING', 'Hi')}, {name}!"


if __name__ == "__main__":
    print(greeting(os.environ.get("AUDIENCE", "world")))
