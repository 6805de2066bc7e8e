;;;; Stress: TERMINATE-THREAD during consing and during exit, to threads of
;;;; every lifetime. Three long-lived consers (each keeps a list it checks
;;;; across collections) are terminated at random and replaced, so they live
;;;; from milliseconds to seconds; short-lived workers cons and end, and
;;;; their exit path (an UNWIND-PROTECT cleanup) conses too. The main thread
;;;; terminates workers at random delays, some twice (the second while the
;;;; first unwinds: a termination during exit), and collects garbage every
;;;; few rounds; threads are waited for by polling THREAD-ALIVE-P.
;;;; For SBCL_TEST_ARGS seconds (default 10); exits 104 when no thread had
;;;; an error (common.lisp: STRESS-FINISH).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *seconds* (test-arg 10))

(defun conser ()
  (stress-lambda ("conser")
    (let ((keep (loop for i below 1000 collect i)))
      (unwind-protect
           (loop (cons-strings (+ 100 (random 3000)))
                 (unless (= (reduce #'+ keep) 499500)
                   (error "kept list corrupted")))
        (cons-strings 500)))))

(defun worker ()
  (stress-lambda ("worker")
    (unwind-protect (cons-strings (random 20000))
      (cons-strings (+ 100 (random 1000))))))

(defun terminate (th counts)
  (when (try-interrupt th #'sb-ext:quit counts)
    (incf (getf (car counts) :terminations))))

(let* ((start (get-internal-real-time))
       (deadline (stress-deadline *seconds*))
       (consers (loop repeat 3 collect (sb-thread:make-thread (conser) :name "conser")))
       (old '())
       (counts (list (list :rounds 0 :workers 0 :consers 3 :gcs 0 :terminations 0 :accepted 0 :refused 0))))
  (with-stress-errors ("main thread")
    (loop for round from 0
          while (stress-time-left-p deadline)
          do (let ((workers (loop repeat 3 collect (sb-thread:make-thread (worker) :name "worker"))))
               (incf (getf (car counts) :workers) 3)
               (dolist (th workers)
                 (sleep (/ (random 5) 1000.0))
                 (terminate th counts)
                 (when (zerop (random 3))
                   (terminate th counts)))
               (when (zerop (random 8))
                 ;; A conser ends; a new one takes its place.
                 (let ((i (random 3)))
                   (terminate (nth i consers) counts)
                   (push (nth i consers) old)
                   (setf (nth i consers) (sb-thread:make-thread (conser) :name "conser"))
                   (incf (getf (car counts) :consers))))
               (when (zerop (mod round 4))
                 (sb-ext:gc)
                 (incf (getf (car counts) :gcs)))
               (mapc #'wait-polling workers)
               (setf old (remove-if-not #'sb-thread:thread-alive-p old))
               (incf (getf (car counts) :rounds)))))
  (dolist (th consers) (terminate th counts))
  (mapc #'wait-polling (append consers old))
  (stress-finish "terminate" start (car counts)))
