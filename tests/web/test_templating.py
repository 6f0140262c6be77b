"""The page templates' environment: a missing value may be tested but never printed."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from vardmote.web.templating import templates


def test_a_missing_value_can_be_tested_in_a_template() -> None:
    page = templates.env.from_string("{% if error %}<p>{{ error }}</p>{% endif %}klart")
    assert page.render() == "klart"


def test_printing_a_missing_attribute_is_an_error_not_an_empty_string() -> None:
    # The mistake it catches: a list of pairs read as objects rendered an empty template choice.
    page = templates.env.from_string("{% for t in choices %}<option>{{ t.key }}</option>{% endfor %}")
    with pytest.raises(UndefinedError, match="has no attribute 'key'"):
        page.render(choices=[("skyddat-digitalt-vardmote", "Skyddat digitalt vårdmöte")])
