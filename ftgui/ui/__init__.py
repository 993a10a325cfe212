"""The Gradio app: ``ftgui`` / ``ftgui launch``.

- ``app.build_app`` lays out one tab per module (``data_tab``, ``train_tab``,
  ``predict_tab``, ``runs_tab``, ``plugins_tab``); each tab's handlers are plain functions
  that call the engine and can be tested without a browser (``handlers.bind`` adapts them).
- ``jobs`` owns the one training that runs in the background; ``predictors`` keeps loaded
  models; ``context`` holds the launch options and what the tabs share.
- ``launch`` turns command-line flags into a served app; ``heavy`` imports torch and timm
  on first use; ``catalog``, ``charts``, ``evaluation`` and ``command`` are display helpers.

Gradio's usage analytics are switched off here, before any module of this package can
import gradio (it reads the variable at import time).
"""
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
