"""The map of errors in errors.py names every error the service raises for people."""

from __future__ import annotations

import importlib
import pkgutil

import vardmote
from vardmote import errors


def _every_module() -> None:
    for module in pkgutil.walk_packages(vardmote.__path__, "vardmote."):
        if ".migrations." not in module.name + ".":
            importlib.import_module(module.name)


def _subclasses(cls: type[errors.VardmoteError]) -> set[type[errors.VardmoteError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_the_map_of_errors_names_every_error_meant_for_people() -> None:
    _every_module()
    assert errors.__doc__ is not None
    missing = sorted(
        c.__name__ for c in _subclasses(errors.VardmoteError) if c.__name__ not in errors.__doc__
    )
    assert missing == []


def test_every_error_meant_for_people_has_its_own_status_and_title() -> None:
    _every_module()
    for cls in _subclasses(errors.VardmoteError):
        assert 400 <= cls.status < 600, cls
        assert cls.title, cls
