"""Finding the Dask client to use, or reaching a scheduler, with a clear error and no hang."""

from __future__ import annotations

__all__ = ["resolve_client", "DEFAULT_CONNECT_TIMEOUT"]

#: Seconds to wait for a scheduler given by address before giving up.
DEFAULT_CONNECT_TIMEOUT = 10.0


def resolve_client(client, timeout: float = DEFAULT_CONNECT_TIMEOUT):
    """Return ``(client, owned)``: a ``distributed.Client`` and whether we created it.

    Parameters
    ----------
    client : distributed.Client, str or None
        A client; a scheduler address (``"tcp://host:8786"``) to connect to within
        ``timeout`` seconds; or None for the current default client.
    timeout : float
        Connection timeout for an address.

    Raises
    ------
    ConnectionError
        The scheduler at the address cannot be reached within ``timeout`` seconds.
    ValueError
        ``client`` is None and no Dask client is running.
    """
    import distributed

    if isinstance(client, distributed.Client):
        return client, False
    if isinstance(client, str):
        try:
            return distributed.Client(client, timeout=timeout, set_as_default=False), True
        except (OSError, TimeoutError) as error:
            raise ConnectionError(
                f"kdforge.dask: cannot reach the Dask scheduler at {client!r} within {timeout:g} s "
                f"({type(error).__name__}: {error}). Is the scheduler running and the address "
                "right (dask scheduler prints it as 'Scheduler at: tcp://...')?") from error
    if client is None:
        try:
            return distributed.get_client(), False
        except ValueError as error:
            raise ValueError("kdforge.dask: no Dask client is running; start one "
                             "(distributed.Client(...)) or pass client= a Client or a scheduler "
                             "address") from error
    raise TypeError(f"client must be a distributed.Client, a scheduler address or None, got "
                    f"{type(client).__name__} {client!r}")
