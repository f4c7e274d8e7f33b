"""Errors that stop a chunk or a stream with a message a data engineer can act on."""


class StreamError(RuntimeError):
    """Base class: something about the stream's inputs or order is wrong."""


class ChunkOrderError(StreamError):
    """A chunk was offered before its predecessor was applied."""


class ChunkContentChangedError(StreamError):
    """A rerun offered different bytes for a chunk that is already applied."""


class WeightsNotLoadedError(StreamError):
    """Chunks cannot be judged before the CustomerImportance weights are loaded."""


class ReferenceDataChangedError(StreamError):
    """The weights of this stream came from a different CustomerImportance file."""


class RulesChangedError(StreamError):
    """The detection thresholds differ from those this stream started with."""


class ReapplyError(StreamError):
    """A rejected chunk cannot be re-applied (still unreadable, or the stream's files are final)."""
