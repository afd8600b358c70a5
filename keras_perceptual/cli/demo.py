"""``keras-perceptual demo``: a small network trained on the shipped photos, with figures."""

from __future__ import annotations

from keras_perceptual.cli.common import (
    PROG,
    HelpFormatter,
    add_weights,
    non_negative_int,
    option_names,
    positive_int,
    say,
    verbosity,
)


def _cmd_demo(args) -> int:
    from keras_perceptual.demo import run_demo

    options = {"task": "--task", "steps": "--steps", "weights": "--weights",
               "output_dir": "--out", "seed": "--seed"}
    with option_names(options):
        run_demo(
            args.task,
            steps=args.steps,
            weights=args.weights,
            output_dir=args.out,
            seed=args.seed,
            verbose=verbosity(args),
            say=say,
        )
    return 0


_DEMO_EPILOG = f"""examples:
  {PROG} demo                                   # style transfer, writes demo_out/style/
  {PROG} demo --task sr --out my_demo           # x4 super-resolution, writes my_demo/sr/
  {PROG} demo --task multi-style                # one network, four paintings, and a blend
  {PROG} demo --task arbitrary                  # AdaIN: three paintings, then an unseen one
  {PROG} demo --weights hed_bsds500 --steps 50  # offline stand-in weights, a quick look

--weights defaults to ImageNet VGG16 (downloaded once); when it cannot be downloaded and
the offline extra is installed the demo uses weights='hed_bsds500' and says so."""



def register(sub) -> None:
    """Adds the subcommand(s) of this module to ``sub`` (argparse subparsers)."""
    from keras_perceptual.demo import DEFAULT_STEPS, TASKS

    p = sub.add_parser("demo", help="train a small demo network and draw before/after figures",
                       description="Train a small network on photos shipped with the package "
                       "(a few minutes on a laptop CPU) and write figures, the model and its "
                       "configuration.", epilog=_DEMO_EPILOG, formatter_class=HelpFormatter)
    p.add_argument("--task", choices=TASKS, default="style",
                   help="style transfer, x4 super-resolution, one network for four styles, "
                   "or arbitrary style transfer (AdaIN)")
    p.add_argument("--steps", type=positive_int, default=None, metavar="N",
                   help="training steps (default: "
                   + ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items()) + ")")
    add_weights(p, default="auto")
    p.add_argument("--out", default="demo_out", metavar="DIR",
                   help="output folder; the task writes DIR/TASK/")
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="S", help="random seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_demo)
