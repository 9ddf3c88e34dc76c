"""One exception for everything a conversion can refuse, with a stable code.

The message is shown to the uploader, so it says what is wrong and what to do, and never
contains a server path, a traceback or file contents.
"""


class ConversionError(Exception):
    """A conversion that cannot go on because of its input (or a limit it crossed)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


# Stable codes (part of the API: clients switch on them).
UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
EMPTY_FILE = "EMPTY_FILE"
CORRUPT_FILE = "CORRUPT_FILE"
ARCHIVE_UNSAFE = "ARCHIVE_UNSAFE"
ARCHIVE_TOO_LARGE = "ARCHIVE_TOO_LARGE"
AMBIGUOUS_ARCHIVE = "AMBIGUOUS_ARCHIVE"
REFERENCE_UNSAFE = "REFERENCE_UNSAFE"
REFERENCE_MISSING = "REFERENCE_MISSING"
NO_GEOMETRY = "NO_GEOMETRY"
TOO_MANY_TRIANGLES = "TOO_MANY_TRIANGLES"
INPUT_TOO_LARGE = "INPUT_TOO_LARGE"
BUDGET_TOO_SMALL = "BUDGET_TOO_SMALL"
TEXTURE_UNSUPPORTED = "TEXTURE_UNSUPPORTED"
TEXTURE_TOO_LARGE = "TEXTURE_TOO_LARGE"
DIMENSIONS_MISMATCH = "DIMENSIONS_MISMATCH"
VALIDATION_FAILED = "VALIDATION_FAILED"
# A file carrying something we never accept whatever its use (a DOCTYPE in XML: XXE, entity bombs).
UNSAFE_INPUT = "UNSAFE_INPUT"
# The pose asked for cannot be applied (a front along the up axis).
ORIENTATION_INVALID = "ORIENTATION_INVALID"
# The optional KTX2 texture encoder (web_textures "ktx2") is missing or failed.
TEXTURE_ENCODER_FAILED = "TEXTURE_ENCODER_FAILED"
