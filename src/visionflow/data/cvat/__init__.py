"""CVAT annotations: readers of every source (XML, COCO, MongoDB), the annotation table, the
train/val splits, and the export of detections back to CVAT."""
