"""The Streamlit app (`streamlit run app.py`): a thin skin over `flowsim.load_scenario` and `simulate`.

- `sources`: the scenario text (shipped files with their architecture inlined, the effective YAML);
- `controls`: the key parameters of a scenario as controls, and the overrides they produce;
- `runner`: cached, size-bounded runs with a progress bar, and the runs kept for comparison;
- `widgets`, `views`: the page's parts.

`sources` and `controls` import no Streamlit, so they are usable and tested on their own.
"""
