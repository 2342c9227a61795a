"""Networks and loaders that several steps share, below the tools that wrap them.

``options``: the multiple-choice protocol (prompts, reading a reply as an option), which the
Video-LLM tools, the students and evaluation all speak. ``student``: what a trainable Video-LLM
offers the trainer. ``hf``: the transformers Video-LLMs (LLaVA-NeXT-Video, LLaVA-OneVision,
Qwen2-VL, Qwen2.5-VL), used as the agent's QA/recognition tools and as step 4's students.
"""
