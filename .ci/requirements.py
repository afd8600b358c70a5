"""Prints the package's requirements from setup.cfg, one per line, for CI's extra environments.

setup.cfg is the one place the requirements and their lower bounds are written; .ci/run builds
the JAX-only and the lowest-versions environments from this output instead of listing them
again.

    python .ci/requirements.py                       # install_requires, as written
    python .ci/requirements.py --without tensorflow  # ... leaving one out
    python .ci/requirements.py --minimum --extra video
        # each requirement with a lower bound pinned to it ("keras>=3.15.0" -> "keras==3.15.0")
"""

from __future__ import annotations

import argparse
import configparser
import pathlib
import re

PACKAGE = "keras-perceptual"
SETUP_CFG = pathlib.Path(__file__).resolve().parent.parent / "setup.cfg"
LOWER_BOUND = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+(?:\[[^\]]*\])?)>=(?P<version>[^,;\s]+)$")


def requirements(section: str, key: str) -> list[str]:
    """The requirement lines of ``key`` in ``section``, without comments and blank lines."""
    config = configparser.ConfigParser(inline_comment_prefixes=None)
    config.read(SETUP_CFG, encoding="utf-8")
    lines = (line.strip() for line in config[section][key].splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def name_of(requirement: str) -> str:
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minimum", action="store_true",
                        help="pin each requirement that has a lower bound to that bound")
    parser.add_argument("--without", action="append", default=[], metavar="NAME",
                        help="leave this package out (repeatable)")
    parser.add_argument("--extra", action="append", default=[], metavar="EXTRA",
                        help="add this extra's requirements (repeatable)")
    args = parser.parse_args()
    chosen = requirements("options", "install_requires")
    extras = list(args.extra)
    while extras:
        for requirement in requirements("options.extras_require", extras.pop(0)):
            if name_of(requirement) == PACKAGE:  # an extra that names others, e.g. [video]
                extras += re.findall(r"[\w-]+", requirement.partition("[")[2])
            else:
                chosen.append(requirement)
    left_out = {name.lower() for name in args.without}
    for requirement in dict.fromkeys(chosen):
        if name_of(requirement) in left_out:
            continue
        bound = LOWER_BOUND.match(requirement) if args.minimum else None
        print(f"{bound['name']}=={bound['version']}" if bound else requirement)


if __name__ == "__main__":
    main()
