"""A desired-state file made into groups for a target: e-mails, case rules."""

import attrs
import pytest

from unigroups import ConfigurationError, User
from unigroups.backends.memory import MemoryBackend
from unigroups.cli.desired import desired_groups
from unigroups.cli.files import DesiredGroup, DesiredMember, DesiredState

BY_EMAIL = DesiredState(
    (DesiredGroup("Sales", members=(DesiredMember("user", email="Ann@Example.com"),)),)
)


class NoDirectory:
    """A target that keeps groups but cannot list its users."""

    name = "plain"
    capabilities = MemoryBackend.capabilities


async def test_an_email_is_matched_lower_cased_to_the_users_id() -> None:
    target = MemoryBackend()
    target.add_user(User("7", email="ann@example.com"))
    target.add_user(User("8", email="bob@example.com"))
    (group,) = await desired_groups(BY_EMAIL, target, "g.toml")
    assert [(m.kind.value, m.id) for m in group.members or ()] == [("user", "7")]


async def test_two_users_with_one_email_are_refused_not_guessed() -> None:
    target = MemoryBackend()
    target.add_user(User("7", email="ann@example.com"))
    target.add_user(User("9", email="ANN@example.com"))
    with pytest.raises(ConfigurationError, match="two users of memory have the email"):
        await desired_groups(BY_EMAIL, target, "g.toml")


async def test_a_target_without_a_user_directory_refuses_emails() -> None:
    with pytest.raises(ConfigurationError, match="plain does not; give their ids") as info:
        await desired_groups(BY_EMAIL, NoDirectory(), "g.toml")  # type: ignore[arg-type]
    assert info.value.option == "email"


async def test_names_are_told_apart_under_the_targets_own_case_rules() -> None:
    state = DesiredState((DesiredGroup("Sales"), DesiredGroup("sales")))
    sensitive = MemoryBackend()
    sensitive.capabilities = attrs.evolve(sensitive.capabilities, names_case_sensitive=True)
    assert [g.name for g in await desired_groups(state, sensitive, "g.toml")] == ["Sales", "sales"]
    with pytest.raises(ConfigurationError, match="which ignores case"):
        await desired_groups(state, MemoryBackend(), "g.toml")
    twice = DesiredState((DesiredGroup("Sales"), DesiredGroup("Sales")))
    with pytest.raises(ConfigurationError, match=r"groups\[0\] 'Sales' and groups\[1\] 'Sales'"):
        await desired_groups(twice, sensitive, "g.toml")
