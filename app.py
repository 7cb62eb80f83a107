"""gen_core dashboard. Run ``python app.py``; Gradio reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (a Space sets them)."""

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Up to 4 requests of each event at once, set here rather than by demo.queue(default_concurrency_limit=4): the
# Blocks already builds its queue and app when it is created and closed, and queue() would build the app again
# (~0.4 s of the cold start). Gradio reads this when the Blocks is created.
os.environ.setdefault("GRADIO_DEFAULT_CONCURRENCY_LIMIT", "4")
if "IPython" not in sys.modules:
    # Gradio imports IPython, when it is installed, only for its notebook magic (%%blocks); this server never runs
    # in a notebook, and the import costs ~0.4 s of the cold start. A None entry makes that import fail, as
    # Gradio expects when IPython is absent. (Run inside IPython, sys.modules already holds it: nothing changes.)
    sys.modules["IPython"] = None  # type: ignore[assignment]

from gen_core.threads import quick_thread_switches  # noqa: E402
from gen_core.ui import CSS, THEME, build_app, warm_up_in_background  # noqa: E402

quick_thread_switches()  # live trainings run beside the server's threads (gen_core.threads)

demo = build_app()

if __name__ == "__main__":
    demo.launch(theme=THEME, css=CSS, prevent_thread_lock=True)
    warm_up_in_background()
    demo.block_thread()
