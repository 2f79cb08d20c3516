"""Every use of a third-party library's internals, one module per library.

stylegen patches or reads private parts of spaCy, textstat, transformers and PEFT where
their public API is too slow, not offline or (PEFT's mixed-adapter batches) not thread-safe.
Each such use lives behind a small named function here, so the rest of the package calls
``stylegen.compat.<library>.<function>`` and never touches the internals itself;
``tests/test_compat.py`` checks that the installed version still has exactly what each
function relies on, and names the version when it does not (``stylegen.compat.peft``:
``tests/test_multi_engine.py``). setup.cfg bounds each of these libraries to the versions
that test has passed on.

Modules import their library inside functions, like the rest of stylegen, so importing
``stylegen.compat.spacy`` does not import spaCy.
"""
