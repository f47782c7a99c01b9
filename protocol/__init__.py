"""The studyroom room protocol as plain values.

Frame models, their validation, error and close codes, and the ordering/resume rules. Nothing
here performs I/O, so the server, the SDK and the tests share one definition of the wire.
"""

PROTOCOL_VERSION = 1
