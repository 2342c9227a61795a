"""The layout lmms-eval's deprecated ``LMMS_EVAL_PLUGINS`` variable expects, for a checkout that is
importable but not installed (so it has no entry points): with ``LMMS_EVAL_PLUGINS=aotd.integrations``
lmms-eval imports this module and registers each ``AVAILABLE_MODELS`` name as the class
``aotd.integrations.models.<name>.<class>``. An installed aotd needs no variable: the
``lmms_eval.models`` entry point registers the same class.
"""

AVAILABLE_MODELS = {"aotd": "AotdStudent"}
