;;;; Garbage collection with other threads around, ms per (gc) (a nursery
;;;; collection: the stop-the-world is the larger share of it):
;;;;   gc-idle-0                 no other thread
;;;;   gc-idle-queue-N           N threads waiting on a waitqueue
;;;;   gc-idle-sleep-N           N threads sleeping (SLEEP 0.05 in a loop)
;;;;   gc-spaced-queue-N         N threads waiting on a waitqueue, 5 ms
;;;;                             between collections (the threads a start
;;;;                             resumed have run before the next stop)
;;;;   stw-idle-queue-N          no collection: one gc_stop_the_world +
;;;;                             gc_start_the_world called from Lisp exactly
;;;;                             as SUB-GC calls them (its mutex held,
;;;;                             interrupts off), N threads waiting on a
;;;;                             waitqueue, µs per round trip: the thread
;;;;                             library's share of a collection, timed at
;;;;                             its boundary
;;;;   stw-stop-idle-queue-N     the same round trips: the stop alone
;;;;   stw-start-idle-queue-N    ... and the start alone
;;;;   gc-consing-N              N threads consing lists as fast as they can;
;;;;                             bytes-consed-between-gcs is raised (to
;;;;                             consing-threshold-mb=N MiB, default 512) so
;;;;                             that only the main thread's (gc) collects: a
;;;;                             sample is a collection that stops N threads
;;;;                             busy allocating
;;;; N: idle=8,64 and consers=2,8 (SBCL_TEST_ARGS idle-big=N changes 64).
;;;; Settings: gcs=N per configuration (default 100), consing-gcs=N (default 60).

(in-package "CL-USER")

(load (merge-pathnames "bench-common.lisp" *load-truename*))

(defvar *gcs* (bench-arg :gcs 100))
(defvar *consing-gcs* (bench-arg :consing-gcs 60))
(defvar *idle-big* (bench-arg :idle-big 64))

(defun time-gcs (count &optional (pause 0))
  "COUNT samples of one (gc), ms each."
  (sb-ext:gc)
  (sb-ext:gc)
  (loop repeat count
        collect (let ((t0 (now-us)))
                  (sb-ext:gc)
                  (let ((dt (- (now-us) t0)))
                    (when (plusp pause) (sleep pause))
                    (/ dt 1000)))))

(defun idle-case (n kind &optional (pause 0))
  "N threads idle in KIND while the main thread collects; PAUSE seconds
between two collections (then named gc-spaced-...: the threads each start
resumed run before the next stop, as when a program runs between its
collections)."
  (let* ((name (cond ((zerop n) "gc-idle-0")
                     ((plusp pause) (format nil "gc-spaced-~(~A~)-~D" kind n))
                     (t (format nil "gc-idle-~(~A~)-~D" kind n))))
         (threads (if (zerop n) nil (start-idlers n kind)))
         (samples (time-gcs *gcs* pause)))
    (when threads (release-idlers threads))
    (emit-samples name samples "ms/gc" :threads n)
    (sb-ext:gc :full t)))

(defun stw-case (n)
  (let ((threads (start-idlers n :queue)))
    (multiple-value-bind (trips stops starts) (time-stws *gcs*)
      (release-idlers threads)
      (emit-samples (format nil "stw-idle-queue-~D" n) trips "us/stw" :threads n)
      (emit-samples (format nil "stw-stop-idle-queue-~D" n) stops "us/stop" :threads n)
      (emit-samples (format nil "stw-start-idle-queue-~D" n) starts "us/start" :threads n))
    (sb-ext:gc :full t)))

(defvar *consing* nil)
(defvar *default-threshold* (sb-ext:bytes-consed-between-gcs))
(defvar *consing-threshold* (* (bench-arg :consing-threshold-mb 512) 1024 1024))

(defun conser ()
  (let ((keep nil) (rounds 0))
    (loop while *consing*
          do (setf keep (make-list 64 :initial-element rounds))
             (incf rounds))
    (length keep)))

(defun consing-case (n)
  (setf *consing* t)
  ;; The consers do not trigger collections of their own (the threshold is
  ;; far above what they allocate between two of the main thread's): a
  ;; sample is one collection that has to stop N threads busy allocating,
  ;; not the wait for theirs.
  (setf (sb-ext:bytes-consed-between-gcs) *consing-threshold*)
  (let* ((threads (loop repeat n collect (sb-thread:make-thread #'conser)))
         (ignore (sleep 0.05))
         (samples (time-gcs *consing-gcs* 0.002)))
    (declare (ignore ignore))
    (setf *consing* nil)
    (mapc #'wait-until-dead threads)
    (setf (sb-ext:bytes-consed-between-gcs) *default-threshold*)
    (emit-samples (format nil "gc-consing-~D" n) samples "ms/gc" :threads n)
    (sb-ext:gc :full t)))

(sb-ext:gc :full t)
(idle-case 0 nil)
(dolist (n (list 8 *idle-big*))
  (idle-case n :queue)
  (idle-case n :sleep))
(idle-case *idle-big* :queue 0.005)
(stw-case *idle-big*)
(consing-case 2)
(consing-case 8)
(bench-done)
