"""gen_core dashboard. Run ``python app.py``; Gradio reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (a Space sets them)."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gen_core.ui import CSS, THEME, build_app, warm_up_in_background  # noqa: E402

demo = build_app()

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=4).launch(theme=THEME, css=CSS, prevent_thread_lock=True)
    warm_up_in_background()
    demo.block_thread()
