"""JSON Schemas of Zoho CRM's v8 user-group and user answers, built from the published field
list of Zoho's OpenAPI files (used by ``test_spec_shapes.py``).

Source: github.com/zoho/crm-oas (mirrored from Zohocorp-Pvt-Ltd/crm-oas), main history at
45dff2c (2025-06-27): ``v8.0/user_groups.json`` (``components.schemas``: ``groups``,
``owner``, ``sources``, ``sources_count``, ``users``, ``info``, ``success``, ``details``,
``ScheduleDetails``, ``InvalidUrlError``, ``Association``...), ``v8.0/common.json``
(``MandatoryError``, ``InvalidValueError``, ``DuplicateError``, ``MandatoryParamError``,
``BodyErrorDetails``, ``ParamDetails``) and ``v8.0/users.json`` (``users``,
``Response_Wrapper``, ``Associated_Group``, ``Minified_User``).

Licence: the repository carries no licence file (none in its tree, none named in its
README), so its files are not copied here. These schemas restate its field names, types,
enums and required lists (facts about Zoho's API), written for this test.

Where these schemas depart from the file, on purpose:

* Every object is closed (``additionalProperties: false``), where the file leaves most
  open: a renamed field must fail the check, not pass as an unknown one.
* The file's successful GET answers (list, get one, sources, sources_count, deletion_jobs,
  a user's associated_groups) point at an "API not supported" error schema
  (``UnsupportedVersionResponse``) by mistake; the schemas meant for them sit unused in
  ``components.schemas`` (``Response_Wrapper``/``groups``, the ``Sources`` and
  ``SourcesCount`` responses, ``info``, ``JobsWrapper``, ``Associated_Groups_Wrapper``).
  These are the intended ones.
* ``groups`` lists ``sources`` and ``sources_count`` as required, but a listing carries
  ``sources_count`` only with ``include=sources_count`` and no answer in the file's
  examples carries ``sources``: both are optional here, with their types kept.
* ``sources.type`` is ``territories``/``roles``/``users`` in the file (and the SDK); the
  prose docs and the seeds add ``groups``, which is allowed here.
* ``modified_by`` may be null (a group never modified): the prose docs and another revision
  of the file (stored at commit de67753) say so; at 45dff2c it is a plain ``owner``.
* An associated group's ``description`` may be null, as a group's is (the file: a string).
* The error unions overlap (``oneOf`` of schemas that match the same body, so a strict
  validator refuses valid errors): errors are checked here with ``anyOf``.
* ``date-time`` formats are checked with a pattern (ISO 8601 with an offset, as Zoho
  writes them), since ``format`` is only an annotation to a validator by default.
* A user's ``required`` list is empty in the file; ``id``, ``full_name``, ``email`` and
  ``status`` (what unigroups reads) are required here. ``pattern``s on a user's ``email``,
  names and website in the file are sample values (``[a-z0-9]{9}[@][a-z0-9]{5}[.]com``),
  not rules, and are left out.
"""

from __future__ import annotations

from typing import Any, Final

Schema = dict[str, Any]

DATE_TIME: Final[Schema] = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$",
}
ID: Final[Schema] = {"type": "string", "pattern": r"^[0-9]+$"}


def obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    """A closed object: only these properties, and these required (all when not given)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def text(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)} if values else {"type": "string"}


INT: Final[Schema] = {"type": "integer"}
BOOL: Final[Schema] = {"type": "boolean"}

# -- user_groups.json ----------------------------------------------------------------------

OWNER: Final = obj({"name": nullable(text()), "id": nullable(ID)})
SOURCES_COUNT: Final = obj(
    {
        "territories": INT,
        "roles": INT,
        "groups": INT,
        "users": obj(
            {"inactive": nullable(INT), "deleted": nullable(INT), "active": nullable(INT)}
        ),
    }
)
SOURCE: Final = obj(
    {
        "type": text("territories", "roles", "users", "groups"),
        "source": obj({"id": ID, "name": text()}),
        "subordinates": nullable(BOOL),
        "sub_territories": nullable(BOOL),
    }
)
GROUP: Final = obj(
    {
        "created_by": OWNER,
        "modified_by": nullable(OWNER),
        "modified_time": nullable(DATE_TIME),
        "created_time": DATE_TIME,
        "description": nullable(text()),
        "id": ID,
        "name": text(),
        "sources_count": SOURCES_COUNT,
        "sources": {"type": "array", "items": SOURCE},
    },
    required=[
        "created_by",
        "modified_by",
        "modified_time",
        "created_time",
        "description",
        "id",
        "name",
    ],
)
INFO: Final = obj(
    {
        "per_page": nullable(INT),
        "count": nullable(INT),
        "page": nullable(INT),
        "more_records": nullable(BOOL),
    }
)

GROUPS_ANSWER: Final = obj({"user_groups": {"type": "array", "items": GROUP}, "info": INFO})
# GET one group: the same wrapper (the file's ``wrapper`` has no ``info``; its example has).
GROUP_ANSWER: Final = obj(
    {
        "user_groups": {"type": "array", "items": GROUP, "minItems": 1, "maxItems": 1},
        "info": INFO,
    },
    required=["user_groups"],
)
SOURCES_ANSWER: Final = obj({"sources": {"type": "array", "items": SOURCE}, "info": INFO})
SOURCES_COUNT_ANSWER: Final = obj({"sources_count": {"type": "array", "items": SOURCES_COUNT}})

SUCCESS: Final = obj(
    {
        "code": text("SUCCESS", "SCHEDULED"),
        "message": text(),
        "status": text("success"),
        "details": {"oneOf": [obj({"id": ID}), obj({"job_id": text()})]},
    }
)
ACTION_ANSWER: Final = obj({"user_groups": {"type": "array", "items": SUCCESS, "minItems": 1}})


def _error(codes: list[str], details: Schema) -> Schema:
    return obj(
        {"code": text(*codes), "details": details, "message": text(), "status": text("error")}
    )


BODY_ERROR_DETAILS: Final = obj({"api_name": text(), "json_path": text()})
# MandatoryError, InvalidValueError and DuplicateError (common.json) on a body field.
BODY_ERROR: Final = _error(
    ["MANDATORY_NOT_FOUND", "INVALID_DATA", "DUPLICATE_DATA"],
    BODY_ERROR_DETAILS,
)
BODY_ERROR_ANSWER: Final = {
    "anyOf": [BODY_ERROR, obj({"user_groups": {"type": "array", "items": BODY_ERROR}})]
}
INVALID_URL_ERROR: Final = _error(["INVALID_DATA"], obj({"resource_path_index": INT}))
MANDATORY_PARAM_ERROR: Final = _error(
    ["REQUIRED_PARAM_MISSING"],
    obj({"param_name": text(), "param": text()}, ["param_name"]),
)
# Errors the user-group file does not spell out (INVALID_TOKEN, NO_PERMISSION...): the
# common shape every Zoho error has.
ANY_ERROR: Final = obj(
    {"code": text(), "details": {"type": "object"}, "message": text(), "status": text("error")}
)

# -- users.json ----------------------------------------------------------------------------

# Every field of the file's ``users`` schema with its type (objects by ``$ref``: "object").
USER_FIELDS: Final[dict[str, str | list[str]]] = {
    "country": ["string", "null"],
    "language": "string",
    "microsoft": "boolean",
    "$shift_effective_from": ["object", "null"],
    "id": ["string", "null"],
    "state": ["string", "null"],
    "fax": ["string", "null"],
    "country_locale": "string",
    "zip": ["string", "null"],
    "created_time": "string",
    "time_format": ["string", "null"],
    "offset": "integer",
    "profile": "object",
    "role": "object",
    "created_by": "object",
    "full_name": "string",
    "zuid": ["string", "null"],
    "phone": ["string", "null"],
    "dob": ["string", "null"],
    "status": "string",
    "customize_info": "object",
    "city": ["string", "null"],
    "signature": ["string", "null"],
    "sort_order_preference__s": "string",
    "category": "string",
    "date_format": ["string", "null"],
    "confirm": "boolean",
    "decimal_separator": ["string", "null"],
    "number_separator": ["string", "null"],
    "time_zone": ["object", "null"],
    "last_name": ["string", "null"],
    "mobile": ["string", "null"],
    "$current_shift": "object",
    "Reporting_To": "object",
    "Currency": ["string", "null"],
    "$next_shift": "object",
    "Modified_Time": "string",
    "website": ["string", "null"],
    "status_reason__s": ["string", "null"],
    "email": "string",
    "first_name": "string",
    "sandboxDeveloper": "boolean",
    "alias": ["string", "null"],
    "street": ["string", "null"],
    "Modified_By": "object",
    "Isonline": "boolean",
    "locale": ["string", "null"],
    "name_format__s": ["string", "null"],
    "personal_account": "boolean",
    "default_tab_group": "string",
    "theme": "object",
    "sort_order_preference": "string",
}
NAMED: Final = obj({"name": text(), "id": ID})  # the file's ``role`` and ``profile``
USER: Final = obj(
    {
        **{name: {"type": kind} for name, kind in USER_FIELDS.items()},
        "id": ID,
        "created_time": DATE_TIME,
        "role": NAMED,
        "profile": NAMED,
    },
    required=["id", "full_name", "email", "status"],
)
USERS_ANSWER: Final = obj({"users": {"type": "array", "items": USER}, "info": INFO})
# GET one user: the file gives it the same ``Users`` answer; Zoho's examples carry no info.
USER_ANSWER: Final = obj(
    {"users": {"type": "array", "items": USER, "minItems": 1, "maxItems": 1}, "info": INFO},
    required=["users"],
)
MINIFIED_USER: Final = obj({"name": text(), "id": nullable(ID), "email": text()}, ["name", "id"])
ASSOCIATED_GROUP: Final = obj(
    {
        "id": ID,
        "name": text(),
        "description": nullable(text()),
        "created_time": DATE_TIME,
        "modified_time": nullable(DATE_TIME),
        "created_by": MINIFIED_USER,
        "modified_by": nullable(MINIFIED_USER),
    },
    required=["id", "name"],
)
ASSOCIATED_GROUPS_ANSWER: Final = obj(
    {"user_groups": {"type": "array", "items": ASSOCIATED_GROUP}, "info": INFO}
)
