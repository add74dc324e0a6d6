from cabinetproto import __version__ as __version__
