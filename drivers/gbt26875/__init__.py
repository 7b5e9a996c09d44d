"""GB/T 26875.3 (user information transmission device ↔ monitoring centre): frame codec, the
application data units, and the mapping of their contents onto canonical points.

- :mod:`drivers.gbt26875.frame`: the frame (``@@`` … ``##``), its bounds and a stream reader that
  resynchronises after garbage;
- :mod:`drivers.gbt26875.units`: application data units (types 1, 2, 3, 4, 21, 24);
- :mod:`drivers.gbt26875.points`: what a data frame means as point values, per device.
"""
