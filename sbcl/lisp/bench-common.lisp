;;;; Helpers of the Lisp-level benchmarks (sbcl/bench.py, make sbcl-bench):
;;;; (load (merge-pathnames "bench-common.lisp" *load-truename*)) first.
;;;;
;;;; Every figure is printed as one line
;;;;   sbcl-bench NAME VALUE UNIT [KEY=VALUE ...]
;;;; which sbcl/bench.py parses; anything else in the output is ignored.
;;;; SBCL_TEST_ARGS (set by sbcl/run_lisp.py) holds space-separated
;;;; KEY=VALUE settings (iteration counts), read with BENCH-ARG.

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defun bench-arg (key default)
  "The integer after KEY= in SBCL_TEST_ARGS, or DEFAULT."
  (let* ((args (or (sb-ext:posix-getenv "SBCL_TEST_ARGS") ""))
         (prefix (concatenate 'string (string-downcase (string key)) "="))
         (at (search prefix args)))
    (if (and at (or (zerop at) (char= #\Space (char args (1- at)))))
        (or (parse-integer args :start (+ at (length prefix)) :junk-allowed t) default)
        default)))

(declaim (inline now-us))
(defun now-us ()
  "Wall-clock microseconds (gettimeofday: get-internal-real-time has 1 ms
units in 0.9.4.1)."
  (multiple-value-bind (ok sec usec) (sb-unix:unix-gettimeofday)
    (declare (ignore ok))
    (+ (* sec 1000000) usec)))

(defun median (numbers)
  (let* ((v (sort (coerce numbers 'vector) #'<))
         (n (length v)))
    (if (oddp n)
        (aref v (floor n 2))
        (/ (+ (aref v (1- (floor n 2))) (aref v (floor n 2))) 2))))

(defun emit (name value unit &rest keys)
  "One result line. KEYS: alternating keyword and value."
  (format t "~&sbcl-bench ~A ~,3F ~A~{ ~(~A~)=~A~}~%" name (float value 1d0) unit keys)
  (finish-output))

(defun emit-samples (name samples unit &rest keys)
  "The median of SAMPLES (a list of numbers) as NAME's value, with their
count, minimum and maximum."
  (apply #'emit name (median samples) unit
         :n (length samples)
         :min (format nil "~,3F" (float (reduce #'min samples) 1d0))
         :max (format nil "~,3F" (float (reduce #'max samples) 1d0))
         keys))

(defun rss-kb ()
  "VmRSS of this process, KiB."
  (with-open-file (s "/proc/self/status")
    (loop for line = (read-line s nil)
          while line
          when (and (> (length line) 6) (string= "VmRSS:" line :end2 6))
            return (parse-integer line :start 6 :junk-allowed t))))

;;; A join by condition variable: the thread's function ends with
;;; SIGNAL-DONE, the creator waits in WAIT-DONE. (0.9.4.1 has no
;;; join-thread; CONDITION-WAIT may also return when a signal interrupts its
;;; futex wait, hence the loop.)
(defstruct (done-box (:constructor make-done-box ()))
  (mutex (sb-thread:make-mutex :name "done"))
  (queue (sb-thread:make-waitqueue :name "done"))
  (done nil))

(defun signal-done (box)
  (sb-thread:with-mutex ((done-box-mutex box))
    (setf (done-box-done box) t)
    (sb-thread:condition-broadcast (done-box-queue box))))

(defun wait-done (box)
  (sb-thread:with-mutex ((done-box-mutex box))
    (loop until (done-box-done box)
          do (sb-thread:condition-wait (done-box-queue box) (done-box-mutex box)))))

(defun sched-yield ()
  (sb-alien:alien-funcall (sb-alien:extern-alien "sched_yield" (function sb-alien:int))))

(defun yield-until-dead (thread)
  "Polls THREAD-ALIVE-P, yielding the CPU between polls (a spinning poller
on a loaded 2-core machine can take the CPU the thread needs to finish)."
  (loop while (sb-thread:thread-alive-p thread)
        do (sched-yield)))

;;; Idle threads for the GC benchmarks: each waits on a shared waitqueue
;;; (:queue) or sleeps (:sleep) until RELEASE-IDLERS.
(defvar *idle-release* nil)
(defvar *idle-box* nil)

(defun start-idlers (n kind)
  (setf *idle-release* nil
        *idle-box* (make-done-box))
  (let* ((box *idle-box*)
         (started 0)
         (count-lock (sb-thread:make-mutex :name "started"))
         (threads
           (loop repeat n
                 collect (sb-thread:make-thread
                          (ecase kind
                            (:queue
                             (lambda ()
                               (sb-thread:with-mutex (count-lock) (incf started))
                               (sb-thread:with-mutex ((done-box-mutex box))
                                 (loop until *idle-release*
                                       do (sb-thread:condition-wait (done-box-queue box)
                                                                    (done-box-mutex box))))))
                            (:sleep
                             (lambda ()
                               (sb-thread:with-mutex (count-lock) (incf started))
                               (loop until *idle-release* do (sleep 0.05)))))))))
    ;; every one has started and is (about to be) idle
    (loop until (= started n) do (sleep 0.001))
    (sleep 0.05)
    threads))

(defun release-idlers (threads)
  (setf *idle-release* t)
  (sb-thread:with-mutex ((done-box-mutex *idle-box*))
    (sb-thread:condition-broadcast (done-box-queue *idle-box*)))
  (mapc #'wait-until-dead threads)
  (values))

(defun time-stws (count)
  "COUNT samples of one stop + start of the world without a collection, µs
each: SUB-GC's own sequence (gc.lisp) with COLLECT-GARBAGE left out. Three
lists: the round trips, their stops and their starts (bench-gc.lisp,
stw-loop.lisp)."
  (sb-ext:gc)
  (let (trips stops starts)
    (dotimes (i count)
      (sb-thread:with-mutex (sb-kernel::*already-in-gc*)
        (sb-sys:without-interrupts
          (let* ((t0 (now-us))
                 (t1 (progn (sb-kernel::gc-stop-the-world) (now-us)))
                 (t2 (progn (sb-kernel::gc-start-the-world) (now-us))))
            (push (- t2 t0) trips)
            (push (- t1 t0) stops)
            (push (- t2 t1) starts)))))
    (values trips stops starts)))

(defun bench-done ()
  (format t "~&sbcl-bench-done~%")
  (finish-output)
  (sb-ext:quit :unix-status 104))
