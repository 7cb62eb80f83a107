"""Small, exact worked examples from the lecture notes for the Theory tab: minimax dynamics (001), divergences and
likelihood vs samples (002, 004), the Gumbel-max / Gumbel-softmax trick (002). Pure functions, numpy or torch in,
arrays out; no Gradio and no plotting here."""
