"""The SageMaker training-container contract as pure, stdlib-only code.

Nothing here touches the network or reads the environment at import time; a
``TrainingLayout`` root is always passed in. This package ships inside the job
(with ``sagelift.runtime``), so it must stay stdlib-only.
"""
