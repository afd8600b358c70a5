"""``python -m keras_perceptual.cli``: the same as the ``keras-perceptual`` command."""

import sys

from keras_perceptual.cli import main

sys.exit(main())
