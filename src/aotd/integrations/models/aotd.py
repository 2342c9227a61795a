"""``aotd.integrations.models.aotd.AotdStudent``: where ``LMMS_EVAL_PLUGINS=aotd.integrations`` looks
for the model named "aotd" (see the package docstring); the class is ``aotd.integrations.lmms_eval``'s."""

from aotd.integrations.lmms_eval import AotdStudent

__all__ = ["AotdStudent"]
