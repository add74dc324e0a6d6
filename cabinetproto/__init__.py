"""What crosses the wire between a cabinet and the fleet service: the sync models, the event types
and their payloads, sealing and hashing, PIN hashes and the enums both sides name.

It imports neither side: the cabinet (cabinetd) and the fleet service (cabinetcloud) both import it.
"""

__version__ = "0.1.0"
