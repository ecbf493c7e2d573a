"""Dataset makers: `lamina datasets make NAME` writes a labeled data set from what installs offline."""
