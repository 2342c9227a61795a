"""The agent step: an LLM planner writes a program over the vision-tool API, the sandbox runs it."""
