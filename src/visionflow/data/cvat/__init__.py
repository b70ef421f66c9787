"""CVAT annotations: readers of every source (XML, COCO, MongoDB) and of every CVAT shape,
the annotation table and its 4K crop, the train/val splits, the export of detections back
to CVAT and the CVAT server (cvat-sdk)."""
