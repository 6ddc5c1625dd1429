"""Order of the suite: tests that start a real estate first.

They mostly wait on their phases, so on several workers (`make test` runs
`pytest -n`) they overlap each other and the quick tests fill the gaps;
started last, one of them would run alone at the end.
"""


def _starts_an_estate(item) -> bool:
    return item.get_closest_marker("live") is not None or (
        item.path.parent.name == "experiments"
    )


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: not _starts_an_estate(item))
