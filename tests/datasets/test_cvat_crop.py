"""The original's 4K crop: purge within 30 px, shift and clamp boxes, cut the image at load."""

import pandas as pd
import pytest
from PIL import Image

from visionflow.data.cvat.crop import crop_box
from visionflow.data.cvat.table import build_table, prepare
from visionflow.experiments.detection.frames import DetectionFrames
from visionflow.io import BadInputError

TASK = "FieldData 20200520145736 1L GH020068"


@pytest.mark.parametrize(
    ("box", "cropped"),
    [
        ((1000, 1000, 1100, 1109), None),  # reaches 30 px below the crop's top row: dropped
        ((1000, 1000, 1100, 1110), [40, 0, 140, 30]),  # 31 px: kept, top clamped to 0
        ((2849, 1500, 2900, 1600), None),  # starts within 30 px of the right edge
        ((2848, 1500, 2900, 1600), [1888, 420, 1919, 520]),  # right edge clamped to 1919
        ((900, 1500, 989, 1600), None),  # ends within 30 px of the left edge
        ((900, 1500, 990, 1600), [0, 420, 30, 520]),  # left clamped to 0
        ((960, 1080, 2880, 2160), [0, 0, 1919, 1079]),  # the whole crop: bottom to 1079
        ((1960.5, 1079.5, 2000, 1200), [1000.5, 0, 1040, 120]),  # ymin < 1080 goes to 0
        ((100, 100, 500, 500), None),  # in the cut-away top left
    ],
)
def test_crop_box_is_the_originals_purge_and_clamp(box, cropped):
    assert crop_box(*box) == cropped


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """A task of a 4K frame (boxes kept, clamped and dropped), a full-HD frame and a 4K
    frame whose only box is dropped; returns the raw root."""
    root = tmp_path_factory.mktemp("crop") / "raw"
    folder = root / TASK
    (folder / "images").mkdir(parents=True)
    frame = Image.new("RGB", (3840, 2160), (255, 0, 0))
    frame.paste((0, 255, 0), (960, 1080, 2880, 2160))  # the crop is green, the rest red
    frame.save(folder / "images" / "4k.jpg", quality=90)
    Image.new("RGB", (1920, 1080)).save(folder / "images" / "hd.jpg")
    Image.new("RGB", (3840, 2160)).save(folder / "images" / "empty.jpg")
    (folder / "annotations.xml").write_text("""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <image id="0" name="4k.jpg" width="3840" height="2160">
    <box label="weed" source="manual" occluded="0" xtl="1000.00" ytl="1500.00" xbr="1100.00" ybr="1600.00" z_order="0">
    </box>
    <box label="weed" source="manual" occluded="0" xtl="2800.00" ytl="2000.00" xbr="3000.00" ybr="2140.00" rotation="5.00" z_order="0">
    </box>
    <box label="weed" source="manual" occluded="0" xtl="100.00" ytl="100.00" xbr="400.00" ybr="300.00" z_order="0">
    </box>
  </image>
  <image id="1" name="hd.jpg" width="1920" height="1080">
    <box label="weed" source="manual" occluded="0" xtl="100.00" ytl="100.00" xbr="400.00" ybr="300.00" z_order="0">
    </box>
  </image>
  <image id="2" name="empty.jpg" width="3840" height="2160">
    <box label="weed" source="manual" occluded="0" xtl="10.00" ytl="10.00" xbr="40.00" ybr="40.00" z_order="0">
    </box>
  </image>
</annotations>
""")  # noqa: E501
    return root


def test_crop_4k_converts_4k_frames_and_records_dropped_boxes(raw, tmp_path):
    table = prepare(raw, tmp_path / "out", [], [], "error", crop_4k=True)
    sizes = table.drop_duplicates("frame")[["frame", "width", "height"]].values.tolist()
    assert sizes == [[0, 1920, 1080], [1, 1920, 1080], [2, 1920, 1080]]
    boxes = table[table["label"].notna()][["frame", "xmin", "ymin", "xmax", "ymax"]]
    first, turned, hd = boxes.values.tolist()
    assert first == [0, 40, 420, 140, 520] and hd == [1, 100, 100, 400, 300]
    assert turned[3] == 1919 and round(turned[4], 2) == 1068.45  # the rotated box's extent
    assert "rotation" not in table["attributes"].iloc[1]  # the shape as read is uncropped
    assert table.loc[table["frame"] == 2, "label"].isna().all()  # left as background
    skipped = pd.read_csv(tmp_path / "out" / "skipped.csv")
    assert skipped["source"].tolist() == [str(raw / TASK / "annotations.xml")] * 2
    assert skipped["reason"].str.contains("reaches less than 30 px into the 4K crop").all()
    plain = build_table(raw, [], [], "error")[0]
    assert plain["width"].tolist()[0] == 3840 and len(plain) == 5


def test_frames_cut_the_4k_image_the_table_gives_as_cropped(raw):
    table = build_table(raw, [], [], "error", crop_4k=True)[0]
    image, target = DetectionFrames(table[table["frame"] == 0], raw, ["weed"])[0]
    assert image.shape == (3, 1080, 1920)
    assert float(image[1].mean()) > 0.95 and float(image[0].mean()) < 0.05  # all of the green
    assert target["boxes"][0].tolist() == [40, 420, 140, 520]
    wrong = table[table["frame"] == 1].assign(width=1280, height=720)  # the frame is full HD
    with pytest.raises(BadInputError, match="image is 1920 x 1080, its annotations say 1280 x 720"):
        DetectionFrames(wrong, raw, ["weed"])[0]
