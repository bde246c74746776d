"""A provider's settings serializer as admin form fields.

Each field of the provider's DRF settings serializer becomes one form field of the matching kind
(a number box with its bounds, a drop-down of its choices, a tick-box list, one line per list
item...), labelled, marked required and explained as the serializer declares it. The form fields
only shape the input: validation stays with the serializer (registry.check_config_data), so
admin, `integrations apply` and the API still refuse the same input with the same message.

    fields = settings_fields(provider_cls, stored_settings, live)   # name -> forms.Field
    data = settings_input(provider_cls, form.cleaned_data)           # what the serializer checks
"""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.html import escape
from rest_framework import fields as drf

from .live_choices import LiveChoices

SETTING_FIELD_PREFIX = "setting__"
NOT_SET = ""
BOOLEAN_CHOICES = [("true", "Yes"), ("false", "No")]


def form_name(setting: str) -> str:
    return SETTING_FIELD_PREFIX + setting


def settings_fields(provider_cls, stored: dict, live: LiveChoices | None = None) -> dict[str, forms.Field]:
    """One form field per declared setting, its initial value the stored one."""
    serializer = provider_cls.settings_serializer()
    offered = set(provider_cls.live_choice_fields)
    built = {}
    vendor = provider_cls.label or provider_cls.name
    for name, declared in serializer.fields.items():
        if name in offered and live is not None:
            field = _live_field(name, declared, stored.get(name), live, vendor)
        else:
            field = _field(name, declared)
            if name in offered:  # a new configuration has no credentials to read the vendor with yet
                field.help_text = _join(field.help_text, f"{vendor}'s own list is offered once this is saved.")
        field.initial = _initial(declared, stored.get(name))
        # admin renders help text as it is, and a vendor's error message in it is not ours
        field.help_text = escape(field.help_text)
        built[form_name(name)] = field
    return built


def settings_input(provider_cls, cleaned_data: dict) -> dict:
    """The settings as the serializer should see them: every box left blank is left out (the
    provider's default applies), lists split into their items."""
    data = {}
    for name, declared in provider_cls.settings_serializer().fields.items():
        value = cleaned_data.get(form_name(name))
        if isinstance(declared, drf.ListField) and isinstance(value, str):
            value = [line.strip() for line in value.splitlines() if line.strip()]
        if value in (None, NOT_SET, []):
            continue
        data[name] = value
    return data


def error_target(key: str) -> tuple[str | None, str]:
    """('setting__x' or None, prefix) for an error key of check_config_data ('settings.x',
    'settings.x.0', 'settings'): a list item's error names the item it is about."""
    _, _, path = key.partition(".")
    if not path:
        return None, ""
    name, _, item = path.partition(".")
    return form_name(name), (f"item {int(item) + 1}: " if item.isdigit() else "")


# -- one field ---------------------------------------------------------------------------------------
def _field(name: str, declared) -> forms.Field:
    options = {"label": setting_label(name, declared), "required": declared.required, "help_text": _help(declared)}
    if isinstance(declared, drf.BooleanField):
        return _boolean(declared, options)
    if isinstance(declared, drf.ChoiceField):
        return forms.ChoiceField(choices=_with_blank(declared, _choices(declared)), **options)
    if isinstance(declared, drf.ListField):
        return _list(declared, options)
    if isinstance(declared, (drf.IntegerField, drf.DecimalField, drf.FloatField)):
        return forms.CharField(widget=forms.NumberInput(attrs=_number_attrs(declared)), **options)
    return forms.CharField(widget=_text_widget(declared), strip=True, **options)


def _boolean(declared, options) -> forms.Field:
    if declared.required:
        return forms.BooleanField(**{**options, "required": False})  # unticked is an answer too
    # not required: "not set" is a third answer, and the provider's default then applies
    return forms.ChoiceField(choices=_with_blank(declared, BOOLEAN_CHOICES), **options)


def _list(declared, options) -> forms.Field:
    child = declared.child
    if isinstance(child, drf.ChoiceField):
        return forms.MultipleChoiceField(choices=_choices(child), widget=forms.CheckboxSelectMultiple, **options)
    options["help_text"] = " ".join(filter(None, ["One per line.", options["help_text"]]))
    return forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 50}), **options)


def _live_field(name: str, declared, current, live: LiveChoices, vendor: str) -> forms.Field:
    """A drop-down of what the vendor holds now; a text box saying why when it could not be read."""
    listed = live.choices.get(name)
    if listed is None:
        field = _field(name, declared)
        why = live.problem or f"{vendor} listed nothing for it"
        field.help_text = _join(field.help_text, f"Could not read the choices from {vendor} ({why}): type the value.")
        field.widget.attrs["data-live-choices"] = "unavailable"
        return field
    options = list(listed)
    if current not in (None, "") and str(current) not in {value for value, _ in options}:
        options.append((str(current), f"{current} (not in {vendor} any more)"))
    read_at = f"{timezone.localtime(live.read_at):%H:%M}" if live.read_at else "just now"
    field = forms.ChoiceField(
        label=setting_label(name, declared),
        required=declared.required,
        choices=_with_blank(declared, options),
        help_text=_join(_help(declared), f"Listed by {vendor} at {read_at}."),
    )
    field.widget.attrs["data-live-choices"] = "listed"
    return field


# -- details ---------------------------------------------------------------------------------------------
ACRONYMS = {"url": "URL", "id": "ID", "vat": "VAT", "api": "API", "pat": "PAT", "sid": "SID"}


def setting_label(name: str, declared) -> str:
    """The serializer's own label, else the name in words ("vat_registered" → "VAT registered")."""
    automatic = name.replace("_", " ").capitalize()  # what DRF makes up when a field names none
    if declared.label and declared.label != automatic:
        return declared.label
    words = [ACRONYMS.get(word, word) for word in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _help(declared) -> str:
    text = str(declared.help_text or "")
    default = _default(declared)
    if default not in (None, "") and "default" not in text.lower():
        text = _join(text, f"Default: {_shown(default)}.")
    return text


def _default(declared):
    value = declared.default
    if value is drf.empty:
        return None
    return value() if callable(value) else value


def _shown(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value) or "none"
    return str(value)


def _join(*parts: str) -> str:
    return " ".join(part.strip() for part in parts if part and part.strip())


def _choices(declared) -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in declared.choices.items()]


def _with_blank(declared, choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    default = _default(declared)
    if declared.required:
        blank = "— choose —"
    elif default not in (None, ""):
        blank = f"— not set: {_shown(default)} —"
    else:
        blank = "— not set —"
    return [(NOT_SET, blank), *choices]


def _number_attrs(declared) -> dict:
    attrs = {"step": "1" if isinstance(declared, drf.IntegerField) else "any"}
    for bound, attr in (("min_value", "min"), ("max_value", "max")):
        if getattr(declared, bound, None) is not None:
            attrs[attr] = getattr(declared, bound)
    _placeholder(declared, attrs)
    return attrs


def _text_widget(declared) -> forms.Widget:
    attrs = {"size": 50}
    if getattr(declared, "max_length", None):
        attrs["maxlength"] = declared.max_length
    _placeholder(declared, attrs)
    if isinstance(declared, drf.URLField):
        return forms.URLInput(attrs=attrs)
    if isinstance(declared, drf.EmailField):
        return forms.EmailInput(attrs=attrs)
    return forms.TextInput(attrs=attrs)


def _placeholder(declared, attrs: dict) -> None:
    default = _default(declared)
    if default not in (None, ""):
        attrs["placeholder"] = _shown(default)


def _initial(declared, value):
    if value is None:
        return NOT_SET
    if isinstance(declared, drf.BooleanField):
        return value if declared.required else ("true" if value else "false")
    if isinstance(declared, drf.ListField):
        items = [str(item) for item in value]
        return items if isinstance(declared.child, drf.ChoiceField) else "\n".join(items)
    return str(value)
