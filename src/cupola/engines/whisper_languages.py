"""The languages Whisper knows: ISO 639-1 codes (``yue`` is the one three-letter code) and the
English names OpenAI's API reports in ``verbose_json`` (``"language": "english"``).

Whisper base, small and medium know the first 99; large-v3 adds Cantonese. A request may name
a language by code (``de``) or by name (``german``, ``German``); :func:`language_code` turns
either into the code.
"""

from __future__ import annotations

from cupola.errors import InvalidParameter

LANGUAGES: dict[str, str] = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian",
    "kn": "kannada", "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic",
    "hy": "armenian", "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian",
    "sw": "swahili", "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer",
    "sn": "shona", "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan", "ka": "georgian",
    "be": "belarusian", "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic", "yi": "yiddish",
    "lo": "lao", "uz": "uzbek", "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen",
    "nn": "nynorsk", "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar",
    "bo": "tibetan", "tl": "tagalog", "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian",
    "ln": "lingala", "ha": "hausa", "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}

# Other names people use for the same languages.
_ALIASES = {
    "burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht", "letzeburgesch": "lb",
    "pushto": "ps", "panjabi": "pa", "moldavian": "ro", "moldovan": "ro", "sinhalese": "si",
    "castilian": "es", "mandarin": "zh", "farsi": "fa", "javanese": "jw", "jv": "jw",
}
_BY_NAME = {name: code for code, name in LANGUAGES.items()} | _ALIASES


def language_code(value: str) -> str | None:
    """The code for a language code or name (any case); None when Whisper does not know it."""
    key = value.strip().lower().replace("_", "-")
    if key in LANGUAGES:
        return key
    if key.split("-")[0] in LANGUAGES and len(key.split("-")[0]) == 2:  # en-US, pt-BR
        return key.split("-")[0]
    return _BY_NAME.get(key)


def language_name(code: str) -> str:
    """OpenAI's name for a language code (``en`` -> ``english``); the code itself when unknown."""
    return LANGUAGES.get(code, code)


def require_code(value: str) -> str:
    """The code for ``value``, or :class:`InvalidParameter` naming the ``language`` parameter."""
    code = language_code(value)
    if code is None:
        raise InvalidParameter(f"unknown language {value!r}: use an ISO 639-1 code such as en, de, es or fr "
                               "(or a name such as German)", param="language")
    return code


def spellings() -> list[str]:
    """Every code and name :func:`language_code` knows, lower case (it also takes any case and regions)."""
    return sorted({*LANGUAGES, *_BY_NAME})
