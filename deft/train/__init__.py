"""Training stage: the Trainer glue and objective-driven loss (``trainer``), the command line the
train rule launches (``cli``), backbone preparation (``backbones``) and the model-strong prior (``prior``)."""
