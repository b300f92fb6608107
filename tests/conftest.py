"""Suite-wide configuration: fixtures live in tests/fixtures/, one module per kind."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.database",
    "tests.fixtures.broker",
    "tests.fixtures.organisation",
    "tests.fixtures.app",
]
