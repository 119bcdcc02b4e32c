// placeholder until the HDF5 layer lands
