"""Label formats: Ground Truth augmented manifests <-> COCO, YOLO and Pascal VOC (``gtpipe export`` and
``gtpipe submit --format``).

Every format is converted through one neutral model (:mod:`gtpipe_cli.formats.model`): a
:class:`~gtpipe_cli.formats.model.Dataset` of images, each with an image-level class (classification) or
boxes in pixels (object detection). Conversions are pure: a writer returns the files to write (relative path
-> bytes) and which image goes where; a reader takes a local folder or file. The command (I/O, S3) is
:mod:`gtpipe_cli.exporting` and :mod:`gtpipe_cli.submit`.

What each format holds (and so what survives a round trip):

============  ==========================================  =============================================
format        image classification                        object detection
============  ==========================================  =============================================
``coco``      ``annotations`` without ``bbox``: one per    ``bbox`` ``[x, y, w, h]`` in pixels; category
              image, its ``category_id`` the image's        ids are class id + 1 (COCO's ids start at 1)
              class (COCO has no classification standard)
``yolo``      Ultralytics' folder layout                   ``labels/<image>.txt``: ``class cx cy w h``
              ``train/<class name>/<image>``                normalized, ``data.yaml`` and ``classes.txt``
``voc``       not supported (a clear error)                ``Annotations/<image>.xml``, corners in pixels
                                                           (``xmin = left``, ``xmax = left + width``, as
                                                           globox and CVAT read and write them)
============  ==========================================  =============================================

Class ids follow the format's own order (COCO: category ids ascending; YOLO: ``names``; a YOLO
classification or VOC dataset: class names sorted, as Ultralytics does) unless the caller passes the
pipeline's class names, which then fix the ids. Confidences, worker metadata, COCO segmentations and
``iscrowd``, and VOC's ``pose``/``truncated``/``difficult`` are not carried across.
"""
