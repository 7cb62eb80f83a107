"""gen_core dashboard. Run ``python app.py``; Gradio reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (a Space sets them)."""

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if "IPython" not in sys.modules:
    # Gradio imports IPython, when it is installed, only for its notebook magic (%%blocks); this server never runs
    # in a notebook, and the import costs ~0.4 s of the cold start. A None entry makes that import fail, as
    # Gradio expects when IPython is absent. (Run inside IPython, sys.modules already holds it: nothing changes.)
    sys.modules["IPython"] = None  # type: ignore[assignment]

from gen_core.ui import CSS, THEME, build_app, warm_up_in_background  # noqa: E402

demo = build_app()

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=4).launch(theme=THEME, css=CSS, prevent_thread_lock=True)
    warm_up_in_background()
    demo.block_thread()
