"""The embedded world, in one package: everything that knows its vocabulary.

AoTD runs offline on a procedurally rendered, STAR-format world. Everything made for that world
lives here, above the core tools and below the agent:

* ``world``: the vocabulary, simulator, renderer, questions and STAR-format writer;
* ``tools``: detectors, recognizers and QA models that read the world's pixels, with the
  shipped weights; ``candidates`` registers them in the tools' one table;
* ``rule_planner`` and ``translate``: programs written from the question's wording, and
  STAR ``question_program``s translated into tool programs;
* ``student``: the small video-language student, its vision tower and its tokenizer.

The core packages (data, tools, agent, select, cot, distill, eval) never import ``world``:
they read a dataset's class files, and reach the rest through the tool table, the planner
factory and the student factory.
"""
